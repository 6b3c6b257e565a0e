import type { Page } from "playwright-core";
import { expect } from "vitest";
import { saveScreenshot, type TwilioServerHandle } from "../infra/index.ts";

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 60);

/** Drives the customer page like a person on a phone would. */
export class CustomerOnPhone {
  constructor(
    readonly page: Page,
    private readonly twilio: TwilioServerHandle,
    readonly phone: string,
  ) {}

  async title(): Promise<string> {
    return this.page.title();
  }

  /** Reads the newest one-time code texted to the customer. */
  async latestCode(after = 0): Promise<string> {
    const msg = await this.twilio.waitForMessage(
      (m) =>
        m.to === this.phone &&
        /verification code is \d{6}/.test(m.body) &&
        Date.parse(m.dateCreated) >= after - 1000,
    );
    const all = this.twilio.messages.filter(
      (m) => m.to === this.phone && /verification code is \d{6}/.test(m.body),
    );
    const last = all[all.length - 1] ?? msg;
    return /verification code is (\d{6})/.exec(last.body)![1]!;
  }

  async enterCode(code: string): Promise<void> {
    await this.page.getByLabel("6-digit code").fill(code);
    await this.page.getByRole("button", { name: "Verify" }).click();
    await this.page.waitForLoadState();
  }

  async fill(fields: Record<string, string>): Promise<void> {
    for (const [label, value] of Object.entries(fields))
      await this.page.getByLabel(label, { exact: true }).fill(value);
  }

  async continue(name = "Continue"): Promise<void> {
    await this.page.getByRole("button", { name, exact: true }).click();
    await this.page.waitForLoadState();
  }

  #shots = 0;

  /**
   * Waits until the page shows `title` (a step being processed refreshes by
   * itself), then saves a screenshot of it: every page a test reaches ends up
   * in the test artifacts.
   */
  async waitForTitle(title: string, timeoutMs = 15_000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const t = await this.page.title().catch(() => "");
      if (t === title) {
        const test = slug((expect.getState().currentTestName ?? "page").split(" > ").pop() ?? "page");
        await saveScreenshot(this.page, `${test}-${String(++this.#shots).padStart(2, "0")}-${slug(title)}`);
        return;
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`page title is "${t}", expected "${title}"`);
      await this.page.waitForTimeout(100);
    }
  }
}
