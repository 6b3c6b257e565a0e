import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserServer, chromium, type Page } from "playwright-core";
import { killWithParent } from "./procs.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export interface ChromiumHandle {
  browser: Browser;
  /** pid of the browser process (its helpers live in the same process group and die with it). */
  pid: number;
  /** A fresh context with a phone viewport (390x844 @2x, touch, mobile UA) and one page in it. */
  newPhonePage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Debian chromium (`/usr/bin/chromium`, or `$CHROMIUM_PATH`) driven by
 * playwright-core. Started as a Playwright browser server on 127.0.0.1 (so we
 * know its pid and can kill it) with a fresh temporary profile, then connected.
 */
export async function launchChromium(): Promise<ChromiumHandle> {
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  const server: BrowserServer = await chromium.launchServer({
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    host: "127.0.0.1",
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    timeout: 60_000,
  });
  const pid = server.process().pid ?? -1;
  const killOnExit = (): void => {
    try {
      if (pid > 0) process.kill(-pid, "SIGKILL");
    } catch {
      try {
        if (pid > 0) process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  };
  process.on("exit", killOnExit);
  // Playwright starts chromium as a process-group leader; kill the whole group if we die.
  const unwatch = killWithParent(pid, { group: true });
  let browser: Browser;
  try {
    browser = await chromium.connect(server.wsEndpoint(), { timeout: 30_000 });
  } catch (err) {
    await server.kill();
    process.off("exit", killOnExit);
    unwatch();
    throw err;
  }
  const version = browser.version();
  const userAgent = `Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${version} Mobile Safari/537.36`;
  let closed = false;
  return {
    browser,
    pid,
    async newPhonePage() {
      const context = await browser.newContext({
        viewport: { width: 390, height: 844 },
        screen: { width: 390, height: 844 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
        userAgent,
        locale: "en-US",
      });
      return context.newPage();
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5_000))]);
        await Promise.race([server.close(), new Promise((r) => setTimeout(r, 5_000))]);
      } finally {
        await server.kill().catch(() => {});
        process.off("exit", killOnExit);
        unwatch();
      }
    },
  };
}

/** Saves a full-page screenshot to test-artifacts/screenshots/<name>.png (repo root); returns the path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  const dir = path.join(REPO_ROOT, "test-artifacts", "screenshots");
  await fs.mkdir(dir, { recursive: true });
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/\.png$/i, "");
  const file = path.join(dir, `${safe}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
