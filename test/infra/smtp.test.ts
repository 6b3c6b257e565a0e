import nodemailer from "nodemailer";
import { describe, expect, it } from "vitest";
import { startSmtpServer } from "./index.ts";
import { parseMime } from "./mime.ts";

describe("smtp harness", () => {
  it("records and decodes what nodemailer sends", async () => {
    const smtp = await startSmtpServer();
    try {
      const transport = nodemailer.createTransport({ host: smtp.host, port: smtp.port, secure: false });
      const longLine = `Hello Zoë, your link is https://example.test/l/${"x".repeat(120)} — thanks!`;
      await transport.sendMail({
        from: '"Linkflow" <no-reply@linkflow.test>',
        to: ["ana@example.test", "bo@example.test"],
        subject: "Finish your onboarding ✓",
        text: `${longLine}\nSecond line = ok`,
        html: `<p>Hello <b>Zoë</b></p><a href="https://example.test/l/abc">Continue</a>`,
      });
      transport.close();
      const m = await smtp.waitForMessage((x) => x.to.includes("bo@example.test"));
      expect(m.from).toBe("no-reply@linkflow.test");
      expect(m.to).toEqual(["ana@example.test", "bo@example.test"]);
      expect(m.subject).toBe("Finish your onboarding ✓");
      expect(m.text).toBe(`${longLine}\nSecond line = ok`);
      expect(m.html).toBe(`<p>Hello <b>Zoë</b></p><a href="https://example.test/l/abc">Continue</a>`);
      expect(m.headers.from).toBe("Linkflow <no-reply@linkflow.test>");
      expect(m.raw).toContain("Subject:");
      expect(smtp.messages).toHaveLength(1);
      await expect(smtp.waitForMessage((x) => x.subject === "nope", 200)).rejects.toThrow(
        /Timed out after 200 ms waiting for a matching email; received 1[\s\S]*Finish your onboarding/,
      );
    } finally {
      await smtp.stop();
    }
  });

  it("parses base64 and single-part messages", () => {
    const raw = [
      "From: a@b.test",
      "Subject: =?UTF-8?B?w6nDqQ==?=",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: base64",
      "",
      Buffer.from("héllo\r\nworld").toString("base64"),
    ].join("\r\n");
    const p = parseMime(raw);
    expect(p.subject).toBe("éé");
    expect(p.text).toBe("héllo\nworld");
    expect(p.html).toBe("");
  });
});
