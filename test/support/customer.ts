import type { Page } from "playwright-core";
import type { TwilioServerHandle } from "../infra/index.ts";
import { Screenshots } from "./screenshots.ts";

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

  #shots = new Screenshots();

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
        await this.#shots.take(this.page, title);
        return;
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`page title is "${t}", expected "${title}"`);
      await this.page.waitForTimeout(100);
    }
  }
}
