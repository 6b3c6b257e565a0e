/**
 * Runs one Linkflow node in its own process for tests that kill nodes or
 * need process boundaries. Reads its configuration as JSON from
 * LINKFLOW_TEST_NODE_CONFIG, traces as the standard OTEL_* variables say,
 * and prints one line `READY {json}` with its addresses once it serves.
 * SIGTERM drains the node and flushes the spans still batched before exiting.
 */

import { setupTracing } from "../../core/index.ts";
import type { NodeConfig } from "../../gateway/node/index.ts";
import { startNode } from "../../gateway/node/index.ts";

const cfg = JSON.parse(process.env.LINKFLOW_TEST_NODE_CONFIG ?? "{}") as NodeConfig;
const tracing = setupTracing();
const node = await startNode(cfg);
process.stdout.write(
  `READY ${JSON.stringify({
    nodeId: node.nodeId,
    grpcAddress: node.grpcAddress,
    httpAddress: node.httpAddress,
    internalAddress: node.internalAddress,
    publicBaseUrl: node.publicBaseUrl,
    pid: process.pid,
  })}\n`,
);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  let code = 0;
  try {
    await node.stop();
  } catch (err) {
    process.stderr.write(`node stop failed: ${(err as Error).stack}\n`);
    code = 1;
  }
  await tracing.shutdown();
  process.exit(code);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
