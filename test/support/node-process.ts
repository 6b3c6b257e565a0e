/**
 * Runs one Linkflow node in its own process for tests that kill nodes. Reads
 * its configuration as JSON from LINKFLOW_TEST_NODE_CONFIG and prints one line
 * `READY {json}` with its addresses once it serves.
 */

import type { NodeConfig } from "../../gateway/node/index.ts";
import { startNode } from "../../gateway/node/index.ts";

const cfg = JSON.parse(process.env.LINKFLOW_TEST_NODE_CONFIG ?? "{}") as NodeConfig;
const node = await startNode(cfg);
process.stdout.write(
  `READY ${JSON.stringify({
    nodeId: node.nodeId,
    grpcAddress: node.grpcAddress,
    httpAddress: node.httpAddress,
    internalAddress: node.internalAddress,
    publicBaseUrl: node.publicBaseUrl,
  })}\n`,
);
const stop = async () => {
  await node.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
