import type { Violations } from "../grpc/index.ts";

/**
 * The event types Linkflow publishes to businesses. A subscription may name
 * one of these, a family ("workflow.*") or "*"; anything else would silently
 * never match, so it is refused.
 */
export const EVENT_TYPES = [
  "customer.created",
  "financial_account.added",
  "transaction.status_changed",
  "workflow.cancelled",
  "workflow.completed",
  "workflow.declined",
  "workflow.expired",
  "workflow.failed",
  "workflow.step_completed",
  "workflow.transaction_status_changed",
] as const;

const FAMILIES = new Set(EVENT_TYPES.map((t) => `${t.slice(0, t.indexOf("."))}.*`));
const KNOWN = new Set<string>([...EVENT_TYPES, ...FAMILIES, "*"]);

/** A published event's type: dotted lower-case words. */
export const EVENT_TYPE = /^[a-z][a-z_]*(\.[a-z][a-z_]*)+$/;
/** A type filter: an exact type, a family ending in ".*", or "*". */
export const EVENT_PATTERN = /^(\*|[a-z][a-z_]*(\.[a-z][a-z_]*)*(\.\*)?)$/;

const MAX_EVENT_TYPES = 50;
const MAX_URL = 2000;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Empty = every event type; otherwise each entry must be known and appear once. */
export function checkEventTypes(v: Violations, types: string[]): void {
  if (types.length > MAX_EVENT_TYPES) {
    v.add("event_types", `at most ${MAX_EVENT_TYPES} event types`);
    return;
  }
  const seen = new Set<string>();
  types.forEach((t, i) => {
    const field = `event_types[${i}]`;
    if (t.trim() === "") v.add(field, "must not be empty");
    else if (seen.has(t)) v.add(field, `repeats ${t}`);
    else if (!KNOWN.has(t))
      v.add(field, `must be one of ${[...KNOWN].sort().join(", ")} (${t} is not an event type)`);
    seen.add(t);
  });
}

/**
 * A webhook endpoint: absolute https (http only to loopback, or anywhere when
 * `allowInsecure`), no credentials (they would be stored and shown in clear),
 * no fragment, at most 2000 characters.
 */
export function checkWebhookUrl(v: Violations, raw: string, allowInsecure = false): void {
  if (raw.trim() === "") {
    v.add("url", "is required");
    return;
  }
  if (raw.length > MAX_URL) {
    v.add("url", `must be at most ${MAX_URL} characters`);
    return;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    v.add("url", "must be an absolute https URL");
    return;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") v.add("url", "must be an https URL");
  else if (url.username || url.password) v.add("url", "must not contain credentials");
  else if (url.hash) v.add("url", "must not contain a fragment");
  else if (url.protocol === "http:" && !allowInsecure && !LOOPBACK.has(url.hostname))
    v.add("url", "must be an https URL");
}
