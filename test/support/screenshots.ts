import type { Page } from "playwright-core";
import { expect } from "vitest";
import { saveScreenshot } from "../infra/index.ts";

/** Lower-case words joined by dashes, at most 60 characters: a file-name-safe label. */
export function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 60);
}

/** One screenshot a test saved: its file and the page's URL at that moment. */
export interface Shot {
  file: string;
  url: string;
}

/**
 * Numbered screenshots of one page, named after the running test:
 * `<test>-<NN>-<label>.png` in the test artifacts, so every page a test
 * reaches ends up there in the order it was reached.
 */
export class Screenshots {
  #count = 0;
  /** Every screenshot saved through this instance, oldest first. */
  readonly taken: Shot[] = [];

  async take(page: Page, label: string): Promise<Shot> {
    const test = slug((expect.getState().currentTestName ?? "page").split(" > ").pop() ?? "page");
    const n = String(++this.#count).padStart(2, "0");
    const file = await saveScreenshot(page, `${test}-${n}-${slug(label)}`);
    const shot = { file, url: page.url() };
    this.taken.push(shot);
    return shot;
  }
}
