import { parseMetrics } from "../../../core/index.ts";

/** Calls the nodes served so far, by kind: `grpc <method>` and `http <route>`. */
export type CallCounts = Map<string, number>;

/** Reads the gRPC calls and HTTP requests each node counted (its `/metrics`), summed over the nodes. */
export async function nodeCalls(httpAddresses: string[]): Promise<CallCounts> {
  const counts: CallCounts = new Map();
  for (const address of httpAddresses) {
    const text = await (await fetch(`http://${address}/metrics`)).text();
    for (const s of parseMetrics(text)) {
      const key =
        s.name === "linkflow_grpc_server_handled_total"
          ? `grpc ${s.labels.method}`
          : s.name === "linkflow_http_requests_total"
            ? `http ${s.labels.method} ${s.labels.route}`
            : undefined;
      if (key) counts.set(key, (counts.get(key) ?? 0) + s.value);
    }
  }
  return counts;
}

/** What was served between two readings, per unit of work, most frequent first. */
export function callsPerUnit(before: CallCounts, after: CallCounts, units: number): Record<string, number> {
  const out: [string, number][] = [];
  for (const [k, v] of after) {
    const d = (v - (before.get(k) ?? 0)) / units;
    if (d > 0) out.push([k, Number(d.toFixed(2))]);
  }
  return Object.fromEntries(out.sort((a, b) => b[1] - a[1]));
}
