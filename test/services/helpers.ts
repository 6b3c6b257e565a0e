import { logSink } from "../../core/index.ts";

/** Captures every log line written while a suite runs; `restore()` puts the sink back. */
export function captureLogs(): { lines: string[]; text(): string; restore(): void } {
  const original = logSink.write;
  const lines: string[] = [];
  logSink.write = (line) => {
    lines.push(line);
  };
  return {
    lines,
    text: () => lines.join("\n"),
    restore: () => {
      logSink.write = original;
    },
  };
}
