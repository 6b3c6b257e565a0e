import { Metadata, status } from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import { type SearchWorkflowsRequest, WorkflowStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { collect, createWorkflowRequest, failure, useApiStack } from "./harness.ts";

const api = useApiStack();

const list = {
  pageSize: 0,
  pageToken: "",
  statuses: [] as WorkflowStatus[],
  customerId: "",
  externalId: "",
  templateName: "",
};
const search: SearchWorkflowsRequest = { ...list, templateVersion: 0, query: "" };

describe("WorkflowService: list, search, watch", () => {
  const ids: string[] = [];
  let otherTenantId = "";

  beforeAll(async () => {
    const made = [
      createWorkflowRequest({ customerPhone: "+14155550101", externalId: "emp-1" }),
      createWorkflowRequest({ customerPhone: "+14155550102", externalId: "emp-2" }),
      createWorkflowRequest({
        templateName: "terms_only",
        customerEmail: "grace.hopper@example.com",
        externalId: "emp-3",
      }),
    ];
    for (const r of made) {
      const { workflow } = await call(api.workflows, "createWorkflow", r, api.asA());
      ids.push(workflow!.id);
    }
    const b = await call(
      api.workflows,
      "createWorkflow",
      createWorkflowRequest({ customerPhone: "+14155550101" }),
      api.asB(),
    );
    otherTenantId = b.workflow!.id;
  });

  it("lists the tenant's workflows newest first, page by page", async () => {
    const all = await call(api.workflows, "listWorkflows", list, api.asA());
    expect(all.workflows.map((w) => w.id)).toEqual([...ids].reverse());
    expect(all.nextPageToken).toBe("");

    const p1 = await call(api.workflows, "listWorkflows", { ...list, pageSize: 2 }, api.asA());
    expect(p1.workflows.map((w) => w.id)).toEqual([ids[2], ids[1]]);
    expect(p1.nextPageToken).not.toBe("");
    const p2 = await call(
      api.workflows,
      "listWorkflows",
      { ...list, pageSize: 2, pageToken: p1.nextPageToken },
      api.asA(),
    );
    expect(p2.workflows.map((w) => w.id)).toEqual([ids[0]]);
    expect(p2.nextPageToken).toBe("");

    // A token belongs to its listing: other filters refuse it.
    const f = await failure(
      call(
        api.workflows,
        "listWorkflows",
        { ...list, pageSize: 2, pageToken: p1.nextPageToken, templateName: "welcome" },
        api.asA(),
      ),
    );
    expect(f).toMatchObject({ code: status.INVALID_ARGUMENT, fields: ["page_token"] });
  });

  it("filters by status (kept current from the actors), template and external id", async () => {
    await call(
      api.workflows,
      "cancelWorkflow",
      { workflowId: ids[1]!, reason: "hired elsewhere", idempotencyKey: "" },
      api.asA(),
    );
    const cancelled = await call(
      api.workflows,
      "listWorkflows",
      { ...list, statuses: [WorkflowStatus.WORKFLOW_STATUS_CANCELLED] },
      api.asA(),
    );
    expect(cancelled.workflows.map((w) => w.id)).toEqual([ids[1]]);
    expect(cancelled.workflows[0]?.status).toBe(WorkflowStatus.WORKFLOW_STATUS_CANCELLED);

    const terms = await call(
      api.workflows,
      "listWorkflows",
      { ...list, templateName: "terms_only" },
      api.asA(),
    );
    expect(terms.workflows.map((w) => w.id)).toEqual([ids[2]]);
    const byExt = await call(api.workflows, "listWorkflows", { ...list, externalId: "emp-1" }, api.asA());
    expect(byExt.workflows.map((w) => w.id)).toEqual([ids[0]]);
  });

  it("searches by phone, email, id and external id, within a created range", async () => {
    const q = async (query: string, extra: Partial<SearchWorkflowsRequest> = {}) =>
      (await call(api.workflows, "searchWorkflows", { ...search, query, ...extra }, api.asA())).workflows.map(
        (w) => w.id,
      );
    expect(await q("5550102")).toEqual([ids[1]]);
    expect(await q("+14155550101")).toEqual([ids[0]]);
    expect(await q("GRACE.hopper")).toEqual([ids[2]]);
    expect(await q(ids[0]!)).toEqual([ids[0]]);
    expect(await q("emp-3")).toEqual([ids[2]]);
    expect(await q("EMP-2 14155550102")).toEqual([ids[1]]);
    expect(await q("emp-2 grace")).toEqual([]);
    expect(await q("nobody-here")).toEqual([]);
    expect(await q("", { createdAfter: new Date(Date.now() + 60_000) })).toEqual([]);
    expect(
      await q("", {
        createdAfter: new Date(Date.now() - 600_000),
        createdBefore: new Date(Date.now() + 60_000),
      }),
    ).toHaveLength(3);
    expect(await q("", { templateName: "welcome", templateVersion: 1 })).toEqual([ids[1], ids[0]]);
  });

  it("never shows another tenant's workflows", async () => {
    const b = await call(api.workflows, "listWorkflows", list, api.asB());
    expect(b.workflows.map((w) => w.id)).toEqual([otherTenantId]);
    const s = await call(api.workflows, "searchWorkflows", { ...search, query: "5550102" }, api.asB());
    expect(s.workflows).toEqual([]);
  });

  it("rejects bad list input on every field", async () => {
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => call(api.workflows, "listWorkflows", { ...list, pageSize: 501 }, api.asA()), "page_size"],
      [() => call(api.workflows, "listWorkflows", { ...list, pageSize: -1 }, api.asA()), "page_size"],
      [
        () => call(api.workflows, "listWorkflows", { ...list, pageToken: "garbage" }, api.asA()),
        "page_token",
      ],
      [
        () => call(api.workflows, "listWorkflows", { ...list, statuses: [99 as WorkflowStatus] }, api.asA()),
        "statuses",
      ],
      [() => call(api.workflows, "listWorkflows", { ...list, customerId: "nope" }, api.asA()), "customer_id"],
      [
        () => call(api.workflows, "listWorkflows", { ...list, externalId: "x".repeat(256) }, api.asA()),
        "external_id",
      ],
      [
        () => call(api.workflows, "listWorkflows", { ...list, templateName: "x".repeat(101) }, api.asA()),
        "template_name",
      ],
      [
        () => call(api.workflows, "searchWorkflows", { ...search, templateVersion: 2 }, api.asA()),
        "template_version",
      ],
      [
        () =>
          call(
            api.workflows,
            "searchWorkflows",
            { ...search, templateName: "welcome", templateVersion: -1 },
            api.asA(),
          ),
        "template_version",
      ],
      [
        () =>
          call(
            api.workflows,
            "searchWorkflows",
            { ...search, createdAfter: new Date(2000), createdBefore: new Date(1000) },
            api.asA(),
          ),
        "created_before",
      ],
      [
        () => call(api.workflows, "searchWorkflows", { ...search, query: "q".repeat(201) }, api.asA()),
        "query",
      ],
    ];
    for (const [p, field] of cases) {
      const f = await failure(p());
      expect(f.code, field).toBe(status.INVALID_ARGUMENT);
      expect(f.fields, field).toContain(field);
    }
  });

  it("idempotency keys on workflow mutations: a replay answers the same, another request with the key is refused", async () => {
    const create = createWorkflowRequest({
      customerPhone: "+14155550150",
      idempotencyKey: "create-150-abcdef",
    });
    const made = await call(api.workflows, "createWorkflow", create, api.asA());
    expect((await call(api.workflows, "createWorkflow", create, api.asA())).workflow?.id).toBe(
      made.workflow?.id,
    );
    expect(
      (await failure(call(api.workflows, "createWorkflow", { ...create, memo: "other" }, api.asA()))).reason,
    ).toBe("idempotency_key_reused");
    expect(
      await failure(call(api.workflows, "createWorkflow", { ...create, idempotencyKey: "k" }, api.asA())),
    ).toMatchObject({
      code: status.INVALID_ARGUMENT,
      fields: ["idempotency_key"],
    });
    await call(
      api.workflows,
      "cancelWorkflow",
      { workflowId: made.workflow!.id, reason: "", idempotencyKey: "" },
      api.asA(),
    );

    const req = { workflowId: ids[0]!, reason: "duplicate", idempotencyKey: "cancel-emp-1-xyz" };
    const first = await call(api.workflows, "cancelWorkflow", req, api.asA());
    const replay = await call(api.workflows, "cancelWorkflow", req, api.asA());
    expect(replay.workflow?.status).toBe(WorkflowStatus.WORKFLOW_STATUS_CANCELLED);
    expect(replay).toEqual(first);
    expect(
      await failure(call(api.workflows, "cancelWorkflow", { ...req, reason: "other" }, api.asA())),
    ).toMatchObject({
      code: status.FAILED_PRECONDITION,
      reason: "idempotency_key_reused",
    });
  });

  it("watches a workflow: replays its events, streams new ones and ends when it ends", async () => {
    const { workflow } = await call(
      api.workflows,
      "createWorkflow",
      createWorkflowRequest({ customerPhone: "+14155550109" }),
      api.asA(),
    );
    const id = workflow!.id;
    const w = collect(
      api.workflows.watchWorkflow({ workflowId: id, afterSequence: 0 }, api.auth(api.a.apiKey)),
    );
    await expect.poll(() => w.got.map((m) => m.event?.type)).toContain("link.sent");
    await call(
      api.workflows,
      "cancelWorkflow",
      { workflowId: id, reason: "", idempotencyKey: "" },
      api.asA(),
    );
    expect(await w.done).toMatchObject({ code: status.OK });
    const types = w.got.map((m) => m.event?.type);
    expect(types[0]).toBe("workflow.created");
    expect(types.at(-1)).toBe("workflow.cancelled");
    expect(w.got.at(-1)?.workflow?.status).toBe(WorkflowStatus.WORKFLOW_STATUS_CANCELLED);
    const seqs = w.got.map((m) => m.event!.sequence);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);

    // Resuming after a sequence replays only what came later, then ends (the workflow is over).
    const last = seqs.at(-1)!;
    const again = collect(
      api.workflows.watchWorkflow({ workflowId: id, afterSequence: seqs[0]! }, api.auth(api.a.apiKey)),
    );
    expect(await again.done).toMatchObject({ code: status.OK });
    expect(again.got.map((m) => m.event!.sequence)).toEqual(seqs.slice(1));
    expect(again.got.at(-1)?.event?.sequence).toBe(last);
  });

  it("watch: another tenant's workflow is NOT_FOUND; bad input is INVALID_ARGUMENT; deadlines and cancel end it", async () => {
    const nf = collect(
      api.workflows.watchWorkflow({ workflowId: otherTenantId, afterSequence: 0 }, api.auth(api.a.apiKey)),
    );
    expect(await nf.done).toMatchObject({ code: status.NOT_FOUND });
    const bad = collect(
      api.workflows.watchWorkflow({ workflowId: "wf_nope", afterSequence: 0 }, api.auth(api.a.apiKey)),
    );
    expect(await bad.done).toMatchObject({ code: status.INVALID_ARGUMENT });
    const neg = collect(
      api.workflows.watchWorkflow({ workflowId: ids[2]!, afterSequence: -1 }, api.auth(api.a.apiKey)),
    );
    expect(await neg.done).toMatchObject({ code: status.INVALID_ARGUMENT });
    const unauth = collect(
      api.workflows.watchWorkflow({ workflowId: ids[2]!, afterSequence: 0 }, new Metadata()),
    );
    expect(await unauth.done).toMatchObject({ code: status.UNAUTHENTICATED });

    // ids[2] is still active: the watch runs until the deadline ...
    const timed = collect(
      api.workflows.watchWorkflow({ workflowId: ids[2]!, afterSequence: 0 }, api.auth(api.a.apiKey), {
        deadline: Date.now() + 800,
      }),
    );
    expect(await timed.done).toMatchObject({ code: status.DEADLINE_EXCEEDED });
    expect(timed.got.map((m) => m.event?.type)).toContain("workflow.created");
    // ... or until the client cancels it.
    const stream = api.workflows.watchWorkflow(
      { workflowId: ids[2]!, afterSequence: 0 },
      api.auth(api.a.apiKey),
    );
    const cancelled = collect(stream);
    await expect.poll(() => cancelled.got.length).toBeGreaterThan(0);
    stream.cancel();
    expect(await cancelled.done).toMatchObject({ code: status.CANCELLED });
  });

  it("honours the caller's deadline on unary calls", async () => {
    const f = await failure(
      new Promise((resolve, reject) =>
        api.workflows.listWorkflows(list, api.auth(api.a.apiKey), { deadline: Date.now() - 1 }, (err, res) =>
          err ? reject(err) : resolve(res),
        ),
      ),
    );
    expect(f.code).toBe(status.DEADLINE_EXCEEDED);
  });
});
