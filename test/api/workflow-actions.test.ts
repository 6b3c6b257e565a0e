import { type CallOptions, type Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Channel, type CreateWorkflowRequest, WorkflowStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import {
  type ApiHarness,
  createWorkflowRequest,
  expectViolations,
  type Failure,
  failure,
  sentWorkflow as sentWorkflowOf,
  useApiStack,
} from "./harness.ts";

const api = useApiStack();

const DAY = 86_400_000;

const sentWorkflow = (phone: string) => sentWorkflowOf(api, phone);

const linkSms = (phone: string) =>
  api.stack.twilio.messages.filter((m) => m.to === phone && m.body.includes("/l/"));

const events = async (id: string, type: string) =>
  (await call(api.workflows, "getWorkflowHistory", { workflowId: id }, api.asA())).events.filter(
    (e) => e.type === type,
  );

const manualNotifications = async (id: string) =>
  (await call(api.workflows, "getWorkflowHistory", { workflowId: id }, api.asA())).notifications.filter(
    (n) => n.origin === "MANUAL",
  ).length;

describe("GetWorkflowLink", () => {
  it("gives the tenant the customer's link; another tenant gets NOT_FOUND; a finished workflow has none", async () => {
    const phone = "+14155550301";
    const id = await sentWorkflow(phone);
    const { linkUrl, expireAt } = await call(api.workflows, "getWorkflowLink", { workflowId: id }, api.asA());
    // The link handed out is the one texted to the customer.
    expect(linkSms(phone)[0]?.body).toContain(linkUrl);
    expect(expireAt!.getTime()).toBeGreaterThan(Date.now());

    expect(
      await failure(call(api.workflows, "getWorkflowLink", { workflowId: id }, api.asB())),
    ).toMatchObject({ code: status.NOT_FOUND });

    await call(
      api.workflows,
      "cancelWorkflow",
      { workflowId: id, reason: "", idempotencyKey: "" },
      api.asA(),
    );
    expect(
      await failure(call(api.workflows, "getWorkflowLink", { workflowId: id }, api.asA())),
    ).toMatchObject({ code: status.FAILED_PRECONDITION, reason: "workflow_not_active" });
  });

  it("rejects a missing or malformed workflow id", async () => {
    await expectViolations([
      [() => call(api.workflows, "getWorkflowLink", { workflowId: "" }, api.asA()), "workflow_id"],
      [() => call(api.workflows, "getWorkflowLink", { workflowId: "wf_nope" }, api.asA()), "workflow_id"],
    ]);
  });
});

describe("ResendLink", () => {
  it("another tenant's workflow is NOT_FOUND and nothing is sent", async () => {
    const phone = "+14155550311";
    const id = await sentWorkflow(phone);
    expect(
      await failure(
        call(
          api.workflows,
          "resendLink",
          { workflowId: id, channel: 0, idempotencyKey: "b-resend-311" },
          api.asB(),
        ),
      ),
    ).toMatchObject({ code: status.NOT_FOUND });
    expect(await events(id, "link.resent")).toEqual([]);
  });

  it("the same idempotency key twice resends once; the key with another workflow is refused", async () => {
    const phone = "+14155550312";
    const id = await sentWorkflow(phone);
    const req = { workflowId: id, channel: 0, idempotencyKey: "resend-312-once" };
    const first = await call(api.workflows, "resendLink", req, api.asA());
    const replay = await call(api.workflows, "resendLink", req, api.asA());
    expect(replay).toEqual(first);
    expect(await events(id, "link.resent")).toHaveLength(1);

    // A later resend under another key is the sentinel: once its SMS is out, a duplicate of the first would be too.
    await call(
      api.workflows,
      "resendLink",
      { workflowId: id, channel: 0, idempotencyKey: "resend-312-again" },
      api.asA(),
    );
    await expect.poll(() => linkSms(phone).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await expect.poll(() => manualNotifications(id), { timeout: 10_000 }).toBe(2);
    expect(linkSms(phone)).toHaveLength(3);

    const other = await sentWorkflow("+14155550313");
    expect(
      await failure(call(api.workflows, "resendLink", { ...req, workflowId: other }, api.asA())),
    ).toMatchObject({ code: status.FAILED_PRECONDITION, reason: "idempotency_key_reused" });
    expect(await events(other, "link.resent")).toEqual([]);
  });

  it("rejects bad input on every field", async () => {
    const id = await sentWorkflow("+14155550314");
    await expectViolations([
      [
        () =>
          call(api.workflows, "resendLink", { workflowId: "", channel: 0, idempotencyKey: "" }, api.asA()),
        "workflow_id",
      ],
      [
        () =>
          call(
            api.workflows,
            "resendLink",
            { workflowId: "wf_1", channel: 0, idempotencyKey: "" },
            api.asA(),
          ),
        "workflow_id",
      ],
      [
        () =>
          call(
            api.workflows,
            "resendLink",
            { workflowId: id, channel: 0, idempotencyKey: "short" },
            api.asA(),
          ),
        "idempotency_key",
      ],
      [
        () =>
          call(
            api.workflows,
            "resendLink",
            { workflowId: id, channel: 0, idempotencyKey: "has space" },
            api.asA(),
          ),
        "idempotency_key",
      ],
      [
        () =>
          call(
            api.workflows,
            "resendLink",
            { workflowId: id, channel: 9 as Channel, idempotencyKey: "" },
            api.asA(),
          ),
        "channel",
      ],
      [
        // An SMS workflow cannot be resent by email: refused, not silently sent by SMS.
        () =>
          call(
            api.workflows,
            "resendLink",
            { workflowId: id, channel: Channel.CHANNEL_EMAIL, idempotencyKey: "" },
            api.asA(),
          ),
        "channel",
      ],
    ]);
    expect(await events(id, "link.resent")).toEqual([]);
  });
});

describe("ExtendExpiry", () => {
  const expiry = async (id: string) =>
    (await call(api.workflows, "getWorkflow", { workflowId: id }, api.asA())).workflow!.expireAt!.getTime();

  it("another tenant's workflow is NOT_FOUND and its expiry stays", async () => {
    const id = await sentWorkflow("+14155550321");
    const before = await expiry(id);
    for (const r of [
      { extendBy: { seconds: 86_400, nanos: 0 }, expireAt: undefined },
      { extendBy: undefined, expireAt: new Date(before + DAY) },
    ]) {
      expect(
        await failure(
          call(api.workflows, "extendExpiry", { workflowId: id, idempotencyKey: "", ...r }, api.asB()),
        ),
      ).toMatchObject({ code: status.NOT_FOUND });
    }
    expect(await expiry(id)).toBe(before);
  });

  it("the same idempotency key twice extends once; the key with another request is refused", async () => {
    const id = await sentWorkflow("+14155550322");
    const before = await expiry(id);
    const req = {
      workflowId: id,
      extendBy: { seconds: 86_400, nanos: 0 },
      expireAt: undefined,
      idempotencyKey: "extend-322-once",
    };
    const first = await call(api.workflows, "extendExpiry", req, api.asA());
    expect(first.workflow!.expireAt!.getTime()).toBe(before + DAY);
    expect(await call(api.workflows, "extendExpiry", req, api.asA())).toEqual(first);
    expect(await expiry(id)).toBe(before + DAY);
    expect(await events(id, "expiry.extended")).toHaveLength(1);

    expect(
      await failure(
        call(api.workflows, "extendExpiry", { ...req, extendBy: { seconds: 172_800, nanos: 0 } }, api.asA()),
      ),
    ).toMatchObject({ code: status.FAILED_PRECONDITION, reason: "idempotency_key_reused" });
    expect(await expiry(id)).toBe(before + DAY);
  });

  it("rejects bad input on every field", async () => {
    const id = await sentWorkflow("+14155550323");
    const ok = {
      workflowId: id,
      extendBy: { seconds: 3600, nanos: 0 },
      expireAt: undefined,
      idempotencyKey: "",
    };
    await expectViolations([
      [() => call(api.workflows, "extendExpiry", { ...ok, workflowId: "" }, api.asA()), "workflow_id"],
      [() => call(api.workflows, "extendExpiry", { ...ok, workflowId: "wf_x" }, api.asA()), "workflow_id"],
      [() => call(api.workflows, "extendExpiry", { ...ok, extendBy: undefined }, api.asA()), "expire_at"],
      [
        () => call(api.workflows, "extendExpiry", { ...ok, extendBy: { seconds: -60, nanos: 0 } }, api.asA()),
        "extend_by",
      ],
      [
        () =>
          call(
            api.workflows,
            "extendExpiry",
            { ...ok, extendBy: undefined, expireAt: new Date(Date.now() - DAY) },
            api.asA(),
          ),
        "expire_at",
      ],
      [
        () => call(api.workflows, "extendExpiry", { ...ok, idempotencyKey: "k" }, api.asA()),
        "idempotency_key",
      ],
    ]);
    expect(await events(id, "expiry.extended")).toEqual([]);
  });
});

describe("GetWorkflow, GetWorkflowHistory and CancelWorkflow across tenants", () => {
  it("another tenant's workflow is NOT_FOUND for reads and cancel; the workflow stays active", async () => {
    const id = await sentWorkflow("+14155550331");
    for (const p of [
      () => call(api.workflows, "getWorkflow", { workflowId: id }, api.asB()),
      () => call(api.workflows, "getWorkflowHistory", { workflowId: id }, api.asB()),
      () =>
        call(
          api.workflows,
          "cancelWorkflow",
          { workflowId: id, reason: "", idempotencyKey: "b-cancel-331" },
          api.asB(),
        ),
    ]) {
      expect(await failure(p())).toMatchObject({ code: status.NOT_FOUND });
    }
    const w = (await call(api.workflows, "getWorkflow", { workflowId: id }, api.asA())).workflow!;
    expect(w.status).toBe(WorkflowStatus.WORKFLOW_STATUS_LINK_SENT);
  });

  it("rejects malformed workflow ids on reads", async () => {
    await expectViolations([
      [() => call(api.workflows, "getWorkflow", { workflowId: "" }, api.asA()), "workflow_id"],
      [() => call(api.workflows, "getWorkflow", { workflowId: "wf_ABC" }, api.asA()), "workflow_id"],
      [() => call(api.workflows, "getWorkflowHistory", { workflowId: "" }, api.asA()), "workflow_id"],
      [() => call(api.workflows, "getWorkflowHistory", { workflowId: "cus_1" }, api.asA()), "workflow_id"],
    ]);
  });
});

describe("deadlines", () => {
  /**
   * Calls with `grpc-timeout: 0m`: what a server sees when the caller's
   * deadline ran out in transit. The generated client sends the header as
   * given when the call has no deadline of its own, so the request really
   * reaches the server.
   */
  function expiredCall<Req>(
    method: (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (err: unknown) => void) => unknown,
    req: Req,
  ): Promise<Failure> {
    const md = api.auth(api.a.apiKey);
    md.set("grpc-timeout", "0m");
    return failure(
      new Promise((resolve, reject) =>
        method.call(api.workflows, req, md, {}, (err) => (err ? reject(err) : resolve(null))),
      ),
    );
  }

  it("a call whose deadline has passed is DEADLINE_EXCEEDED and changes nothing", async () => {
    const phone = "+14155550341";
    const f = await expiredCall(
      api.workflows.createWorkflow,
      createWorkflowRequest({ customerPhone: phone, externalId: "late-341" }),
    );
    expect(f.code).toBe(status.DEADLINE_EXCEEDED);

    const id = await sentWorkflow("+14155550342");
    const r = await expiredCall(api.workflows.resendLink, { workflowId: id, channel: 0, idempotencyKey: "" });
    expect(r.code).toBe(status.DEADLINE_EXCEEDED);
    const c = await expiredCall(api.workflows.cancelWorkflow, {
      workflowId: id,
      reason: "",
      idempotencyKey: "",
    });
    expect(c.code).toBe(status.DEADLINE_EXCEEDED);

    // Nothing happened: no workflow for the late create, and the other one was neither resent nor cancelled.
    const listed = await call(
      api.workflows,
      "listWorkflows",
      { pageSize: 0, pageToken: "", statuses: [], customerId: "", externalId: "late-341", templateName: "" },
      api.asA(),
    );
    expect(listed.workflows).toEqual([]);
    expect(await events(id, "link.resent")).toEqual([]);
    expect((await call(api.workflows, "getWorkflow", { workflowId: id }, api.asA())).workflow?.status).toBe(
      WorkflowStatus.WORKFLOW_STATUS_LINK_SENT,
    );
    // The sentinel: a call in time after the late ones goes through, and its SMS is the first to that phone.
    await call(api.workflows, "createWorkflow", createWorkflowRequest({ customerPhone: phone }), api.asA());
    await api.stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
    expect(linkSms(phone)).toHaveLength(1);
  });
});

describe("CreateWorkflow and CancelWorkflow: bad input and other tenants' objects", () => {
  it("names every invalid field of CreateWorkflow, and nothing is created or sent", async () => {
    const phone = "+14155550351";
    const ok = createWorkflowRequest({ customerPhone: phone, externalId: "bad-create" });
    const pay = { ...ok, templateName: "onboard_and_pay" };
    const create = (over: Partial<CreateWorkflowRequest>) =>
      call(api.workflows, "createWorkflow", { ...ok, ...over }, api.asA());
    await expectViolations([
      [() => create({ templateName: "" }), "template_name"],
      [() => create({ templateVersion: -1 }), "template_version"],
      [
        () => call(api.workflows, "createWorkflow", { ...pay, inputs: { amount: "lots" } }, api.asA()),
        "inputs.amount",
      ],
      [() => call(api.workflows, "createWorkflow", { ...pay, inputs: {} }, api.asA()), "inputs.amount"],
      [() => create({ inputs: { nickname: "x" } }), "inputs.nickname"],
      [() => create({ customerPhone: "555-0123" }), "customer_phone"],
      [() => create({ customerPhone: "" }), "customer_phone"],
      [() => create({ customerEmail: "not-an-email" }), "customer_email"],
      [() => create({ customerId: "customer-1" }), "customer_id"],
      [() => create({ channel: 9 as Channel }), "channel"],
      [() => create({ channel: Channel.CHANNEL_EMAIL }), "customer_email"],
      [() => create({ externalId: "e".repeat(256) }), "external_id"],
      [() => create({ memo: "m".repeat(501) }), "memo"],
      [() => create({ expiresIn: { seconds: 30, nanos: 0 } }), "expires_in"],
      [() => create({ expiresIn: { seconds: 91 * 86_400, nanos: 0 } }), "expires_in"],
      [() => create({ idempotencyKey: "abc" }), "idempotency_key"],
    ]);
    const listed = await call(
      api.workflows,
      "listWorkflows",
      {
        pageSize: 0,
        pageToken: "",
        statuses: [],
        customerId: "",
        externalId: "bad-create",
        templateName: "",
      },
      api.asA(),
    );
    expect(listed.workflows).toEqual([]);
    expect(linkSms(phone)).toEqual([]);
  });

  it("a customer_id is the tenant's own customer: theirs is NOT_FOUND, ours gets the link on its phone", async () => {
    const customer = async (phone: string, as: ReturnType<ApiHarness["asA"]>) =>
      (
        await call(
          api.customers,
          "createCustomer",
          {
            profile: {
              $case: "individual",
              value: { firstName: "Ada", lastName: "B", email: "", phone, addresses: [] },
            },
            externalId: "",
            idempotencyKey: "",
          },
          as,
        )
      ).customer!.id;
    const theirs = await customer("+14155550361", api.asB());
    for (const over of [{}, { customerPhone: "+14155550362" }]) {
      expect(
        await failure(
          call(
            api.workflows,
            "createWorkflow",
            createWorkflowRequest({ customerId: theirs, ...over }),
            api.asA(),
          ),
        ),
      ).toMatchObject({ code: status.NOT_FOUND });
    }
    expect(linkSms("+14155550362")).toEqual([]);

    const ours = await customer("+14155550363", api.asA());
    const { workflow } = await call(
      api.workflows,
      "createWorkflow",
      createWorkflowRequest({ customerId: ours }),
      api.asA(),
    );
    expect(workflow?.customerId).toBe(ours);
    await api.stack.twilio.waitForMessage((m) => m.to === "+14155550363" && m.body.includes("/l/"));
  });

  it("another tenant's private template is NOT_FOUND to CreateWorkflow", async () => {
    const source = `template globex_only "Globex onboarding" version 1

link {
  send via sms
  expires in 7 days
}

step profile "Confirm your details" {
  collect individual { first_name, last_name required }
}
`;
    await call(api.templates, "publishTemplate", { source, fileName: "", idempotencyKey: "" }, api.asB());
    const req = createWorkflowRequest({ templateName: "globex_only", customerPhone: "+14155550364" });
    expect(await failure(call(api.workflows, "createWorkflow", req, api.asA()))).toMatchObject({
      code: status.NOT_FOUND,
    });
    // Its owner can use it.
    expect((await call(api.workflows, "createWorkflow", req, api.asB())).workflow?.templateName).toBe(
      "globex_only",
    );
  });

  it("names every invalid field of CancelWorkflow, and the workflow stays active", async () => {
    const id = await sentWorkflow("+14155550371");
    const cancel = (over: Record<string, string>) =>
      call(
        api.workflows,
        "cancelWorkflow",
        { workflowId: id, reason: "", idempotencyKey: "", ...over },
        api.asA(),
      );
    await expectViolations([
      [() => cancel({ workflowId: "" }), "workflow_id"],
      [() => cancel({ workflowId: "wf_0" }), "workflow_id"],
      [() => cancel({ reason: "r".repeat(501) }), "reason"],
      [() => cancel({ idempotencyKey: "tiny" }), "idempotency_key"],
    ]);
    expect((await call(api.workflows, "getWorkflow", { workflowId: id }, api.asA())).workflow?.status).toBe(
      WorkflowStatus.WORKFLOW_STATUS_LINK_SENT,
    );
  });
});
