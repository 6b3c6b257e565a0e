import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { connect } from "../../core/index.ts";
import { call, requestHash } from "../../services/grpc/index.ts";
import { startStack } from "../support/stack.ts";
import { createWorkflowRequest, failure, sentWorkflow as sentWorkflowOf, useApiStack } from "./harness.ts";

const api = useApiStack();

const sentWorkflow = (phone: string) => sentWorkflowOf(api, phone);

const resentEvents = async (id: string) =>
  (await call(api.workflows, "getWorkflowHistory", { workflowId: id }, api.asA())).events.filter(
    (e) => e.type === "link.resent",
  ).length;

/**
 * Writes a claim of `key` for ResendLink of `workflowId`, as an attempt that
 * is still running (or died) leaves it: made `ageSeconds` ago, held until
 * `holdsForSeconds` from now (null: a claim that names no deadline).
 */
async function leaveClaim(
  workflowId: string,
  key: string,
  ageSeconds: number,
  holdsForSeconds: number | null = null,
): Promise<void> {
  const sql = connect(api.stack.databaseUrl, { max: 1 });
  try {
    await sql`
      insert into workflows.idempotency
        (business_id, key, method, request_hash, created_at, claim_token, claim_until)
      values (${api.a.businessId}, ${key}, 'ResendLink', ${requestHash("ResendLink", { workflowId, channel: 0 })},
              now() - ${`${ageSeconds} seconds`}::interval, 'another-attempt',
              now() + ${holdsForSeconds === null ? null : `${holdsForSeconds} seconds`}::interval)`;
  } finally {
    await sql.end();
  }
}

/** A retry of ResendLink with `key` is refused as busy while another attempt holds the key, and nothing is resent. */
async function expectBusyWithoutActing(workflowId: string, key: string): Promise<void> {
  const f = await failure(
    call(
      api.workflows,
      "resendLink",
      { workflowId, channel: 0, idempotencyKey: key },
      { ...api.asA(), timeoutMs: 1500 },
    ),
  );
  // Busy when the server answers first; the client's own deadline otherwise.
  expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(f.code);
  expect(await resentEvents(workflowId)).toBe(0);
}

describe("keyed mutations of the public API", () => {
  it("the same key sent five times at once acts once, and every call gets the same answer", async () => {
    const id = await sentWorkflow("+14155550341");
    const req = { workflowId: id, channel: 0, idempotencyKey: "resend-341-together" };
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => call(api.workflows, "resendLink", req, api.asA())),
    );
    for (const a of answers) expect(a).toEqual(answers[0]);
    expect(await resentEvents(id)).toBe(1);
  });

  it("a key whose attempt is still under way makes a retry wait, then answer busy, without acting", async () => {
    const id = await sentWorkflow("+14155550342");
    await leaveClaim(id, "resend-342-running", 0);
    await expectBusyWithoutActing(id, "resend-342-running");
  });

  it("a key held for an attempt with a long deadline is not taken over, however old its claim", async () => {
    const id = await sentWorkflow("+14155550344");
    await leaveClaim(id, "resend-344-long", 600, 60);
    await expectBusyWithoutActing(id, "resend-344-long");
  });

  it("a key whose holder's deadline has passed is taken over: the retry acts, once", async () => {
    const id = await sentWorkflow("+14155550345");
    await leaveClaim(id, "resend-345-past", 600, -1);
    const req = { workflowId: id, channel: 0, idempotencyKey: "resend-345-past" };
    const first = await call(api.workflows, "resendLink", req, api.asA());
    expect(await call(api.workflows, "resendLink", req, api.asA())).toEqual(first);
    expect(await resentEvents(id)).toBe(1);
  });

  it("a key left by an attempt that died is taken over once its lease lapsed: the retry acts, once", async () => {
    const id = await sentWorkflow("+14155550343");
    await leaveClaim(id, "resend-343-died", 60);
    const req = { workflowId: id, channel: 0, idempotencyKey: "resend-343-died" };
    const first = await call(api.workflows, "resendLink", req, api.asA());
    expect(await call(api.workflows, "resendLink", req, api.asA())).toEqual(first);
    expect(await resentEvents(id)).toBe(1);
  });
});

describe("a node with a small database pool", () => {
  it("answers more keyed mutations at once than it has connections: none holds one while the actor works", async () => {
    // Before, each call kept a transaction open across its ask, and the actors' commits found no connection left.
    const stack = await startStack({ poolSize: 2, tracing: false });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const phone = `+1415555036${i}`;
        const { workflow } = await call(
          stack.api,
          "createWorkflow",
          createWorkflowRequest({ customerPhone: phone }),
          { metadata: stack.auth() },
        );
        await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
        ids.push(workflow!.id);
      }
      const answers = await Promise.all(
        ids.map((workflowId, i) =>
          call(
            stack.api,
            "resendLink",
            { workflowId, channel: 0, idempotencyKey: `resend-pool-${i}` },
            { metadata: stack.auth(), timeoutMs: 10_000 },
          ),
        ),
      );
      expect(answers.map((a) => a.workflow?.id)).toEqual(ids);
    } finally {
      await stack.stop();
    }
  });
});
