import { type NatsConnection, RequestStrategy, type Service } from "nats";
import type { NodeStatus } from "./node.ts";

/**
 * Each runtime node on NATS registers as a NATS service (the micro protocol),
 * so `nats micro ls`, `nats micro info linkflow-runtime` and
 * `nats micro stats linkflow-runtime` list the nodes, their endpoints and
 * their live status (the `data` of each stats answer is the node's status).
 *
 * Subjects:
 * - `linkflow.shard.<n>` — request/reply to the node holding shard n's lease
 *   (commands and queries; `traceparent` header). Only the lease holder subscribes.
 * - `linkflow.cluster.heartbeat` — every node's liveness, shards and actor count.
 * - `linkflow.node.<nodeId>.status` — one node's status and lease epochs (micro endpoint).
 * - `$SRV.PING|INFO|STATS[.linkflow-runtime[.<id>]]` — the micro protocol's discovery subjects.
 */
export const SERVICE_NAME = "linkflow-runtime";
export const SERVICE_VERSION = "0.1.0";
export const nodeStatusSubject = (nodeId: string) => `linkflow.node.${nodeId}.status`;

/** A node's status as the micro endpoint and stats answer it. */
export interface NodeReport extends NodeStatus {
  /** Lease epoch of each shard held, by shard number. */
  epochs: Record<string, number>;
}

/** Registers the node's micro service; `stop()` removes it (idempotent). */
export async function registerNodeService(
  nc: NatsConnection,
  node: { nodeId: string; shardCount: number; report(): NodeReport },
): Promise<{ service: Service; stop(): Promise<void> }> {
  const service = await nc.services.add({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    description: "Linkflow runtime node: virtual actors sharded over NATS",
    metadata: { node: node.nodeId, shard_count: String(node.shardCount) },
    statsHandler: async () => node.report(),
  });
  service.addEndpoint("status", {
    subject: nodeStatusSubject(node.nodeId),
    metadata: { description: "this node's status and lease epochs (JSON)" },
    handler: (err, msg) => {
      if (err) return;
      msg.respond(new TextEncoder().encode(JSON.stringify(node.report())));
    },
  });
  let stopping: Promise<void> | undefined;
  return {
    service,
    stop: () => {
      stopping ??= service
        .stop()
        .then(() => {})
        .catch(() => {});
      return stopping;
    },
  };
}

/** Every runtime node's report, collected through the micro protocol's STATS discovery. */
export async function collectNodeReports(nc: NatsConnection): Promise<NodeReport[]> {
  const out: NodeReport[] = [];
  const it = await nc.services.client({ strategy: RequestStrategy.Timer, maxWait: 1000 }).stats(SERVICE_NAME);
  for await (const s of it) {
    const data = (s as { data?: unknown }).data;
    if (data && typeof data === "object") out.push(data as NodeReport);
    else {
      const ep = s.endpoints?.find((e) => e.name === "status");
      if (ep?.data && typeof ep.data === "object") out.push(ep.data as NodeReport);
    }
  }
  return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}
