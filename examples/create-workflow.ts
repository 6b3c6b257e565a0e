/**
 * Starts a workflow against a running Linkflow through the public gRPC API,
 * prints the customer's link, then follows the workflow until it ends.
 *
 *   LINKFLOW_API_KEY=lf_test_… npx tsx examples/create-workflow.ts --template welcome --phone +14155550123 [--once]
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { credentials, Metadata } from "@grpc/grpc-js";
import { WorkflowServiceClient, WorkflowStatus, workflowStatusToJSON } from "../proto/index.ts";
import { call, readFieldViolations } from "../services/grpc/index.ts";

const { values } = parseArgs({
  options: {
    template: { type: "string", default: "welcome" },
    version: { type: "string", default: "0" },
    phone: { type: "string" },
    email: { type: "string" },
    input: { type: "string", multiple: true, default: [] },
    memo: { type: "string", default: "" },
    /** Print the link and exit instead of following the workflow to its end. */
    once: { type: "boolean", default: false },
  },
});

const key = process.env.LINKFLOW_API_KEY;
if (!key) {
  process.stderr.write("LINKFLOW_API_KEY is required (npm start prints it)\n");
  process.exit(2);
}
const client = new WorkflowServiceClient(
  process.env.LINKFLOW_GRPC_ADDR ?? "127.0.0.1:50051",
  credentials.createInsecure(),
);
const md = new Metadata();
md.set("authorization", `Bearer ${key}`);

const inputs: Record<string, string> = {};
for (const kv of values.input ?? []) {
  const i = kv.indexOf("=");
  if (i > 0) inputs[kv.slice(0, i)] = kv.slice(i + 1);
}

try {
  const res = await call(
    client,
    "createWorkflow",
    {
      templateName: values.template!,
      templateVersion: Number(values.version),
      inputs,
      customerPhone: values.phone ?? "",
      customerEmail: values.email ?? "",
      customerId: "",
      channel: 0,
      externalId: "",
      memo: values.memo ?? "",
      idempotencyKey: randomUUID(),
    },
    { metadata: md },
  );
  const wf = res.workflow!;
  process.stdout.write(
    `workflow ${wf.id} (${wf.templateName} v${wf.templateVersion})\nlink     ${res.linkUrl}\n`,
  );
  let last = "";
  while (!values.once) {
    const { workflow } = await call(client, "getWorkflow", { workflowId: wf.id }, { metadata: md });
    const s = workflowStatusToJSON(workflow!.status);
    if (s !== last)
      process.stdout.write(
        `status   ${s}${workflow!.currentStep ? ` (step ${workflow!.currentStep})` : ""}\n`,
      );
    last = s;
    if (
      [
        WorkflowStatus.WORKFLOW_STATUS_COMPLETED,
        WorkflowStatus.WORKFLOW_STATUS_DECLINED,
        WorkflowStatus.WORKFLOW_STATUS_EXPIRED,
        WorkflowStatus.WORKFLOW_STATUS_CANCELLED,
        WorkflowStatus.WORKFLOW_STATUS_FAILED,
      ].includes(workflow!.status)
    )
      break;
    await new Promise((r) => setTimeout(r, 1000));
  }
} catch (err) {
  const e = err as { code?: number; details?: string };
  process.stderr.write(`error ${e.code}: ${e.details}\n`);
  for (const v of readFieldViolations(err)) process.stderr.write(`  ${v.field}: ${v.description}\n`);
  process.exitCode = 1;
} finally {
  client.close();
}
