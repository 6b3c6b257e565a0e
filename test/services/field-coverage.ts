/** A refused request as a validation table records it: the RPC and the fields its violations name. */
export interface Refusal {
  method: string;
  fields: readonly string[];
}

/** A generated service definition: each RPC decodes its request (an empty buffer gives every field). */
type Definition = Record<string, { requestDeserialize(value: Buffer): unknown }>;

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The request fields (`method.field`, top level) of every RPC of `service`
 * that no refusal names, so a table can prove it tries bad input on every
 * field. A violation on `a.b[2].c` counts for the field `a`; a oneof counts
 * through any of its cases (`oneofs`: oneof name → case names). `exempt` names
 * `method.field` pairs that have no bad value or are refused some other way,
 * each with the reason; an exemption for a field that does not exist is an
 * error, so the list cannot go stale.
 */
export function uncoveredFields(
  service: Definition,
  refusals: readonly Refusal[],
  opts: { oneofs?: Record<string, readonly string[]>; exempt?: Record<string, string> } = {},
): string[] {
  const covered = new Set(refusals.flatMap((r) => r.fields.map((f) => `${r.method}.${f.split(/[.[]/)[0]}`)));
  const all: string[] = [];
  const missing: string[] = [];
  for (const [method, rpc] of Object.entries(service)) {
    for (const key of Object.keys(rpc.requestDeserialize(Buffer.alloc(0)) as object)) {
      const field = snake(key);
      all.push(`${method}.${field}`);
      const names = [field, ...(opts.oneofs?.[field] ?? [])];
      const exempt = opts.exempt?.[`${method}.${field}`] !== undefined;
      if (!exempt && !names.some((n) => covered.has(`${method}.${n}`))) missing.push(`${method}.${field}`);
    }
  }
  const stale = Object.keys(opts.exempt ?? {}).filter((e) => !all.includes(e));
  return [...missing, ...stale.map((e) => `${e} (exempt, but no such field)`)];
}
