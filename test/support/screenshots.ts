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
 * How many screenshots each test has saved so far, over every instance: a
 * test that drives two pages (two phones, a console and a phone) numbers
 * them in one sequence, so neither overwrites the other's files.
 */
const savedPerTest = new Map<string, number>();

/**
 * Numbered screenshots of one page, named after the running test:
 * `<test>-<NN>-<label>.png` in the test artifacts, so every page a test
 * reaches ends up there in the order it was reached.
 */
export class Screenshots {
  /** Every screenshot saved through this instance, oldest first. */
  readonly taken: Shot[] = [];

  async take(page: Page, label: string): Promise<Shot> {
    const test = slug((expect.getState().currentTestName ?? "page").split(" > ").pop() ?? "page");
    const count = (savedPerTest.get(test) ?? 0) + 1;
    savedPerTest.set(test, count);
    const n = String(count).padStart(2, "0");
    const file = await saveScreenshot(page, `${test}-${n}-${slug(label)}`);
    const shot = { file, url: page.url() };
    this.taken.push(shot);
    return shot;
  }
}
