import { type HttpReply, httpExchange } from "../infra/http-exchange.ts";
import type { TwilioServerHandle } from "../infra/index.ts";

/**
 * A customer using the hosted page with plain HTTP (no browser): keeps the
 * session cookie, follows redirects, reads titles and CSRF tokens from the
 * HTML. For the many flows where a real browser adds nothing but time.
 */
export class HttpCustomer {
  cookie = "";
  html = "";
  status = 0;

  constructor(
    readonly link: string,
    private readonly twilio?: TwilioServerHandle,
    readonly phone?: string,
  ) {}

  /** The same page served by another node of the cluster (links work on every node). */
  on(baseUrl: string): HttpCustomer {
    const c = new HttpCustomer(this.link.replace(/^https?:\/\/[^/]+/, baseUrl), this.twilio, this.phone);
    c.cookie = this.cookie;
    c.html = this.html;
    return c;
  }

  get title(): string {
    return /<title>([^<]*)<\/title>/.exec(this.html)?.[1]?.replace(/&amp;/g, "&") ?? "";
  }

  private remember(res: HttpReply): void {
    if (res.setCookie) this.cookie = res.setCookie.split(";")[0] ?? "";
  }

  async open(): Promise<string> {
    const res = await httpExchange(this.link, { headers: this.cookie ? { cookie: this.cookie } : {} });
    this.remember(res);
    this.status = res.status;
    this.html = res.body;
    return this.title;
  }

  /** Posts the form on the current page with these fields (plus its CSRF token and step). */
  async submit(fields: Record<string, string>): Promise<string> {
    const csrf = /name="_csrf" value="([^"]+)"/.exec(this.html)?.[1] ?? "";
    const step = /name="_step" value="([^"]+)"/.exec(this.html)?.[1];
    const body = new URLSearchParams({ _csrf: csrf, ...(step ? { _step: step } : {}), ...fields }).toString();
    const res = await httpExchange(this.link, {
      method: "POST",
      headers: {
        ...(this.cookie ? { cookie: this.cookie } : {}),
        "content-type": "application/x-www-form-urlencoded",
      },
      body,
    });
    this.remember(res);
    this.status = res.status;
    if (res.status === 303) return this.open();
    this.html = res.body;
    return this.title;
  }

  /** Re-opens the page until its title is `title` (steps being processed refresh by themselves). */
  async waitFor(title: string, timeoutMs = 15_000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      if ((await this.open()) === title) return;
      if (Date.now() - t0 > timeoutMs) throw new Error(`page title is "${this.title}", expected "${title}"`);
      // Like the page's own refresh, a few times a second at most (the page is rate limited per link).
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Passes the one-time code check with the code texted to the phone. */
  async verify(): Promise<void> {
    if ((await this.open()) !== "Enter your code") return;
    const msg = await this.twilio!.waitForMessage(
      (m) => m.to === this.phone && /verification code is \d{6}/.test(m.body),
    );
    const codes = this.twilio!.messages.filter(
      (m) => m.to === this.phone && /verification code is \d{6}/.test(m.body),
    );
    const code = /(\d{6})/.exec((codes[codes.length - 1] ?? msg).body)![1]!;
    await this.submit({ _action: "verify_code", code });
  }
}
