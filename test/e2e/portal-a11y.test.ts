import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "../../services/grpc/index.ts";
import { type ChromiumHandle, launchChromium } from "../infra/index.ts";
import { CustomerOnPhone } from "../support/customer.ts";
import { linkIn, type Stack, startStack } from "../support/stack.ts";

let browser: ChromiumHandle;
let stack: Stack;

beforeAll(async () => {
  browser = await launchChromium();
  stack = await startStack({ transport: "local", tracing: false });
});
afterAll(async () => {
  await stack?.stop();
  await browser?.close();
});

interface Audit {
  /** Form controls without a label. */
  unlabelled: string[];
  /** Text whose contrast with its background is under WCAG AA (4.5:1, 3:1 for large text). */
  lowContrast: string[];
  /** Controls a finger cannot hit (under 44 CSS pixels high). */
  small: string[];
  /** The page is wider than the phone. */
  scrollsSideways: boolean;
  /** Every control a keyboard can reach, in document order (one per radio group). */
  focusable: string[];
}

/** How a control is named in failures and focus orders (runs in the page). */
const DESCRIBE = `(el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
  (el.getAttribute("name") ? "[" + el.getAttribute("name") + "]" : "") +
  (el.tagName === "BUTTON" || el.tagName === "A" ? ' "' + el.textContent.trim() + '"' : "")`;

/*
 * The audit runs in the page, so it is plain JavaScript in a string (the
 * project's TypeScript has no DOM types). WCAG 2 relative luminance and
 * contrast; large text is 24px, or 18.66px bold.
 */
const AUDIT = `(() => {
  const describe = ${DESCRIBE};
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const ch = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const controls = [...document.querySelectorAll("input:not([type=hidden]), select, textarea")];
  const unlabelled = controls.filter((c) => (c.labels ? c.labels.length : 0) === 0 && !c.getAttribute("aria-label")).map(describe);
  const lowContrast = [];
  for (const el of document.querySelectorAll("body *")) {
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || !visible(el)) continue;
    const st = getComputedStyle(el);
    const fg = lum(rgb(st.color));
    const bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = Number.parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) lowContrast.push(describe(el) + " " + ratio.toFixed(2) + ":1");
  }
  const small = [...document.querySelectorAll("button, select, textarea, input:not([type=hidden])")]
    .filter((el) => visible(el) && !["radio", "checkbox"].includes(el.type))
    .filter((el) => el.getBoundingClientRect().height < 44)
    .map(describe);
  const radios = new Set();
  const focusable = [...document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea")]
    .filter((el) => {
      if (!visible(el)) return false;
      if (el.type !== "radio") return true;
      // Tab enters a radio group at its checked radio, else at its first.
      const checked = document.querySelector('input[type=radio][name="' + el.name + '"]:checked');
      if (checked && checked !== el) return false;
      if (radios.has(el.name)) return false;
      radios.add(el.name);
      return true;
    })
    .map(describe);
  return {
    unlabelled, lowContrast, small, focusable,
    scrollsSideways: document.documentElement.scrollWidth > document.documentElement.clientWidth,
  };
})()`;

/** Checks a page as a screen-reader and keyboard user on a phone would meet it. */
function audit(page: Page): Promise<Audit> {
  return page.evaluate<Audit>(AUDIT);
}

/** Presses Tab from the top of the page until focus leaves it; the controls reached, in order, and their tops. */
async function tabOrder(page: Page, max: number): Promise<{ order: string[]; tops: number[] }> {
  await page.evaluate("document.activeElement && document.activeElement.blur()");
  const order: string[] = [];
  const tops: number[] = [];
  for (let i = 0; i < max + 2; i++) {
    await page.keyboard.press("Tab");
    const at = await page.evaluate<{ name: string; top: number } | null>(`(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      return { name: (${DESCRIBE})(el), top: el.getBoundingClientRect().top + window.scrollY };
    })()`);
    if (!at || order.includes(at.name)) break;
    order.push(at.name);
    tops.push(at.top);
  }
  return { order, tops };
}

/** Audits the page now shown and walks it with the keyboard. */
async function expectAccessible(c: CustomerOnPhone, title: string): Promise<void> {
  await c.waitForTitle(title);
  const a = await audit(c.page);
  expect(a.unlabelled, `${title}: controls without a label`).toEqual([]);
  expect(a.lowContrast, `${title}: low contrast`).toEqual([]);
  expect(a.small, `${title}: small tap targets`).toEqual([]);
  expect(a.scrollsSideways, `${title}: wider than the phone`).toBe(false);
  const { order, tops } = await tabOrder(c.page, a.focusable.length);
  // The keyboard reaches every control, in the order they are read, top to bottom.
  expect(order, `${title}: focus order`).toEqual(a.focusable);
  expect(tops, `${title}: focus moves down the page`).toEqual([...tops].sort((x, y) => x - y));
  expect(a.focusable.length, title).toBeGreaterThan(0);
}

describe("the customer page for screen-reader and keyboard users on a phone", () => {
  it("every page of onboard_and_pay has labelled controls, AA contrast, finger-sized targets, no sideways scroll and a top-to-bottom focus order; errors are announced", async () => {
    const phone = "+14155558001";
    await call(
      stack.api,
      "createWorkflow",
      {
        templateName: "onboard_and_pay",
        templateVersion: 0,
        inputs: { amount: "42.00 USD" },
        customerPhone: phone,
        customerEmail: "",
        customerId: "",
        channel: 0,
        externalId: "a11y-1",
        memo: "Thank you for your work in April",
        idempotencyKey: "a11y-1",
      },
      { metadata: stack.auth() },
    );
    const sms = await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
    const c = new CustomerOnPhone(await browser.newPhonePage(), stack.twilio, phone);
    await c.page.goto(linkIn(sms.body));
    await expectAccessible(c, "Enter your code");
    await c.enterCode(await c.latestCode());

    await expectAccessible(c, "Confirm your details");
    await c.continue();
    // Errors: a summary announced as an alert, each field marked invalid and described by its message.
    await expect.poll(() => c.page.locator("#errors").count()).toBe(1);
    expect(await c.page.locator("#errors").getAttribute("role")).toBe("alert");
    const invalid = await c.page.locator("[aria-invalid=true]").all();
    expect(invalid.length).toBeGreaterThanOrEqual(3);
    for (const field of invalid) {
      const ids = (await field.getAttribute("aria-describedby"))?.split(" ") ?? [];
      const messages = await Promise.all(ids.map((id) => c.page.locator(`#${id}`).textContent()));
      expect(
        messages.filter((m) => m?.trim()).length,
        (await field.getAttribute("name")) ?? "",
      ).toBeGreaterThan(0);
    }
    // Each message in the summary links to its field.
    for (const link of await c.page.locator("#errors a").all()) {
      const target = (await link.getAttribute("href"))!;
      expect(await c.page.locator(target).count(), target).toBe(1);
    }
    await expectAccessible(c, "Confirm your details");
    await c.fill({ "First name": "Mary", "Last name": "Jackson", Email: "mary@example.com" });
    await c.continue();

    await expectAccessible(c, "Where should we send the money?");
    await c.page.getByLabel("Bank account", { exact: true }).check();
    await c.fill({
      "Routing number": "011000015",
      "Account number": "000777888999",
      "Name on the account": "Mary Jackson",
    });
    await c.continue();

    await expectAccessible(c, "Terms");
    for (const box of await c.page.getByRole("checkbox").all()) await box.check();
    await c.continue();

    await expectAccessible(c, "Review your payment");
    await c.page.getByLabel("Other", { exact: true }).check();
    await c.page.getByRole("button", { name: "Decline" }).click();
    await expect.poll(() => c.page.locator("#decline-err").count()).toBe(1);
    expect(await c.page.locator("#decline-err").getAttribute("role")).toBe("alert");
    await expectAccessible(c, "Review your payment");
    await c.page.context().close();
  });
});
