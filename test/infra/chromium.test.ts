import { existsSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, saveScreenshot } from "./index.ts";

const PAGE = `<!doctype html>
<html><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>Harness</title></head>
<body>
  <h1 id="msg">Waiting</h1>
  <p id="w"></p>
  <button id="go" onclick="document.getElementById('msg').textContent='Clicked!'">Continue</button>
  <script>document.getElementById('w').textContent = String(window.innerWidth) + 'x' + devicePixelRatio;</script>
</body></html>`;

describe("chromium via playwright-core", () => {
  let server: http.Server;
  let url = "";
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(PAGE);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => {
    server.close();
  });

  it("opens a phone page, clicks, and takes a screenshot", async () => {
    const chrome = await launchChromium();
    try {
      const page = await chrome.newPhonePage();
      await page.goto(url);
      expect(await page.textContent("#w")).toBe("390x2");
      expect(await page.evaluate("navigator.userAgent")).toMatch(/Mobile/);
      await page.tap("#go");
      await expect.poll(() => page.textContent("#msg")).toBe("Clicked!");
      const file = await saveScreenshot(page, "infra-chromium-phone");
      expect(file).toMatch(/test-artifacts[\\/]screenshots[\\/]infra-chromium-phone\.png$/);
      expect(existsSync(file)).toBe(true);
      expect(statSync(file).size).toBeGreaterThan(1000);
    } finally {
      await chrome.close();
    }
    expect(() => process.kill(chrome.pid, 0)).toThrow();
  });
});
