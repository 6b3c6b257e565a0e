import { type ChromiumHandle, launchChromium } from "../infra/index.ts";
import { type Stack, startStack } from "./stack.ts";

/**
 * Rails that settle within a test's patience: a payment pends, settles or
 * returns in well under a second, so a browser test can watch it finish.
 */
export const FAST_RAILS = {
  pendingMs: 100,
  pushToCardSettleMs: 100,
  achSettleMs: 300,
  achReturnMs: 300,
  pollIntervalMs: 50,
} as const;

/** A running stack and the Chromium that plays the customer. */
export interface BrowserStack {
  browser: ChromiumHandle;
  stack: Stack;
}

/**
 * Launches Chromium and starts a stack with {@link FAST_RAILS} (unless
 * `opts.rails` says otherwise). If the stack fails to start, the browser is
 * closed before the error propagates, so a failed `beforeAll` leaks nothing.
 */
export async function startBrowserStack(opts: Parameters<typeof startStack>[0] = {}): Promise<BrowserStack> {
  const browser = await launchChromium();
  try {
    const stack = await startStack({ rails: FAST_RAILS, ...opts });
    return { browser, stack };
  } catch (err) {
    await browser.close().catch(() => {});
    throw err;
  }
}

/** Stops what {@link startBrowserStack} started; tolerates a half-started `beforeAll`. */
export async function stopBrowserStack(env: Partial<BrowserStack>): Promise<void> {
  await env.stack?.stop();
  await env.browser?.close();
}
