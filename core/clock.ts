/**
 * Every timer in Linkflow reads an injected clock, so a test can move seven
 * days in a millisecond instead of sleeping.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to. Listeners run after each move. */
export class ManualClock implements Clock {
  #now: number;
  #listeners = new Set<(now: number) => void>();

  constructor(start: number = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.set(this.#now + ms);
  }

  set(ms: number): void {
    this.#now = ms;
    for (const l of this.#listeners) l(this.#now);
  }

  onChange(listener: (now: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
