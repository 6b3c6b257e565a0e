import type { ReceivedSpan } from "../infra/index.ts";

/** Every received span of one trace. */
export function traceOf(spans: ReceivedSpan[], traceId: string): ReceivedSpan[] {
  return spans.filter((s) => s.traceId === traceId);
}

/** The spans from `span` up to its trace's root, following parent ids (a missing parent ends the chain). */
export function ancestry(span: ReceivedSpan, trace: ReceivedSpan[]): ReceivedSpan[] {
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const out: ReceivedSpan[] = [];
  for (
    let s: ReceivedSpan | undefined = span;
    s && out.length <= trace.length;
    s = byId.get(s.parentSpanId)
  ) {
    out.push(s);
  }
  return out;
}

/** `name@pid` for each span: which process made it. */
export function whereEach(spans: ReceivedSpan[]): string[] {
  return spans.map((s) => `${s.name}@${s.resource["process.pid"]}`);
}

/** The spans below `parent` (children, grandchildren, …). */
export function descendants(parent: ReceivedSpan, trace: ReceivedSpan[]): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  const walk = (id: string) => {
    for (const s of trace) {
      if (s.parentSpanId === id) {
        out.push(s);
        walk(s.spanId);
      }
    }
  };
  walk(parent.spanId);
  return out;
}
