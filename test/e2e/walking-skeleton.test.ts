import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountsServiceClient, WorkflowStatus } from "../../proto/index.ts";
import { call, readFieldViolations } from "../../services/grpc/index.ts";
import { type ChromiumHandle, launchChromium, saveScreenshot } from "../infra/index.ts";
import { linkIn, type Stack, startStack } from "../support/stack.ts";

let browser: ChromiumHandle;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

for (const transport of ["local", "nats"] as const) {
  describe(`walking skeleton on the ${transport} transport`, () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ transport });
    });
    afterAll(async () => {
      await stack?.stop();
    });

    it("a customer completes a workflow from the SMS link; customer created, webhook signed, one trace", async () => {
      const phone = "+14155550123";
      const created = await call(
        stack.api,
        "createWorkflow",
        {
          templateName: "welcome",
          templateVersion: 0,
          inputs: {},
          customerPhone: phone,
          customerEmail: "",
          customerId: "",
          channel: 0,
          externalId: "emp-42",
          memo: "",
          idempotencyKey: `skeleton-${transport}`,
        },
        { metadata: stack.auth() },
      );
      const wf = created.workflow!;
      expect(wf.id).toMatch(/^wf_/);
      expect(wf.templateVersion).toBe(1);
      expect(wf.currentStep).toBe("profile");

      const sms = await stack.twilio.waitForMessage((m) => m.to === phone);
      expect(sms.body).toContain("Acme Payroll");
      const link = linkIn(sms.body);
      expect(link).toBe(created.linkUrl);
      // The token reaches the customer but is stored nowhere in clear: not in the journal, not in the history.
      const token = link.split("/l/")[1]!;
      const stored = await stack.node.sql`
        select (select count(*)::int from runtime.events where data::text like ${`%${token}%`}) as events,
               (select count(*)::int from notifications.notifications where body like ${`%${token}%`}) as history,
               (select count(*)::int from workflows.links where token_hash like ${`%${token}%`}) as links`;
      expect(stored[0]).toEqual({ events: 0, history: 0, links: 0 });

      // The link went out over SMS: the workflow says so.
      await expect
        .poll(
          async () =>
            (await call(stack.api, "getWorkflow", { workflowId: wf.id }, { metadata: stack.auth() })).workflow
              ?.status,
        )
        .toBe(WorkflowStatus.WORKFLOW_STATUS_LINK_SENT);

      const page = await browser.newPhonePage();
      await page.goto(link);
      await expect.poll(() => page.title()).toBe("Confirm your details");
      await saveScreenshot(page, `skeleton-${transport}-profile`);
      // Server-side validation: a required field left empty is reported next to it.
      await page.getByLabel("First name").fill("Ada");
      await page.getByRole("button", { name: "Continue" }).click();
      await expect.poll(() => page.locator("#f-last_name-err").textContent()).toContain("required");
      await page.getByLabel("Last name").fill("Lovelace");
      await page.getByRole("button", { name: "Continue" }).click();
      await page.waitForSelector("h1.done", { timeout: 15_000 });
      expect(await page.textContent("h1")).toContain("All done");
      await saveScreenshot(page, `skeleton-${transport}-done`);
      await page.context().close();

      const got = (await call(stack.api, "getWorkflow", { workflowId: wf.id }, { metadata: stack.auth() }))
        .workflow!;
      expect(got.status).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
      expect(got.customerId).toMatch(/^cus_/);
      expect(got.completedAt).toBeInstanceOf(Date);
      // The listing read model follows the committed turns by itself (no list call needed).
      await expect
        .poll(
          async () =>
            (await stack.node.sql`select status, final from workflows.workflows where id = ${wf.id}`)[0],
        )
        .toEqual({ status: "completed", final: true });

      const accounts = new AccountsServiceClient(stack.node.internalAddress, credentials.createInsecure());
      const { customer } = await call(accounts, "getCustomer", {
        businessId: stack.business.businessId,
        customerId: got.customerId,
      });
      accounts.close();
      expect(customer?.profile).toMatchObject({
        $case: "individual",
        value: { firstName: "Ada", lastName: "Lovelace", phone },
      });

      const hook = await stack.webhooks.waitForDelivery(
        (d) => (d.json as { type?: string }).type === "workflow.completed",
      );
      expect(hook.verified).toBe(true);
      expect(hook.json).toMatchObject({
        data: { workflow_id: wf.id, status: "completed", external_id: "emp-42" },
      });

      // One trace covers CreateWorkflow → actor turn → notifications service → the SMS provider.
      const spans = stack.spans.getFinishedSpans();
      const root = spans.find((s) => s.name === "grpc.server CreateWorkflow");
      expect(root).toBeDefined();
      const trace = spans.filter((s) => s.spanContext().traceId === root!.spanContext().traceId);
      const names = trace.map((s) => s.name);
      expect(names).toEqual(
        expect.arrayContaining([
          "actor.ask",
          "actor.turn",
          "grpc.client /linkflow.v1.NotificationsService/SendSms",
          "grpc.server /linkflow.v1.NotificationsService/SendSms",
          "sms.send twilio",
          "pg.query",
        ]),
      );
      // Statements are traced without their parameters (no PII in spans).
      const statements = trace
        .filter((s) => s.name === "pg.query")
        .map((s) => String(s.attributes["db.statement"]));
      expect(statements.join("\n")).not.toContain(phone);
      const byId = new Map(trace.map((s) => [s.spanContext().spanId, s]));
      const parentOf = (name: string) => {
        const s = trace.find((x) => x.name === name)!;
        return byId.get(s.parentSpanContext?.spanId ?? "")?.name;
      };
      expect(parentOf("actor.turn")).toBe("actor.ask");
      expect(parentOf("sms.send twilio")).toBe("grpc.server /linkflow.v1.NotificationsService/SendSms");
    });

    it("retrying CreateWorkflow with the same idempotency key returns the same workflow and sends one SMS", async () => {
      const phone = "+14155550124";
      const req = {
        templateName: "welcome",
        templateVersion: 1,
        inputs: {},
        customerPhone: phone,
        customerEmail: "",
        customerId: "",
        channel: 0,
        externalId: "",
        memo: "",
        idempotencyKey: `retry-${transport}`,
      };
      const a = await call(stack.api, "createWorkflow", req, { metadata: stack.auth() });
      const b = await call(stack.api, "createWorkflow", req, { metadata: stack.auth() });
      expect(b.workflow!.id).toBe(a.workflow!.id);
      await stack.twilio.waitForMessage((m) => m.to === phone);
      // Nothing is left that could text again: one create request, no effect of the workflow pending.
      const n = async (q: Promise<{ n: number }[]>) => (await q)[0]!.n;
      await expect
        .poll(() =>
          n(
            stack.node.sql`select count(*)::int as n from runtime.effects where actor_id = ${a.workflow!.id}`,
          ),
        )
        .toBe(0);
      expect(
        await n(
          stack.node
            .sql`select count(*)::int as n from workflows.create_requests where idempotency_key = ${req.idempotencyKey}`,
        ),
      ).toBe(1);
      expect(stack.twilio.messages.filter((m) => m.to === phone)).toHaveLength(1);
      await expect(
        call(
          stack.api,
          "createWorkflow",
          { ...req, customerPhone: "+14155550999" },
          { metadata: stack.auth() },
        ),
      ).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
    });

    describe("bad input changes nothing", () => {
      const base = {
        templateName: "welcome",
        templateVersion: 0,
        inputs: {},
        customerPhone: "+14155550100",
        customerEmail: "",
        customerId: "",
        channel: 0,
        externalId: "",
        memo: "",
        idempotencyKey: "",
      };
      const count = async () =>
        Number((await stack.node.sql`select count(*)::int as n from workflows.workflows`)[0]!.n);

      it("an unknown template is NOT_FOUND", async () => {
        const before = await count();
        const sent = stack.twilio.messages.length;
        await expect(
          call(
            stack.api,
            "createWorkflow",
            { ...base, templateName: "no_such_template" },
            { metadata: stack.auth() },
          ),
        ).rejects.toMatchObject({ code: status.NOT_FOUND });
        expect(await count()).toBe(before);
        expect(stack.twilio.messages.length).toBe(sent);
      });

      it("a malformed phone number is INVALID_ARGUMENT naming the field", async () => {
        const before = await count();
        const sent = stack.twilio.messages.length;
        const err = await call(
          stack.api,
          "createWorkflow",
          { ...base, customerPhone: "555-0100" },
          { metadata: stack.auth() },
        ).catch((e) => e);
        expect(err.code).toBe(status.INVALID_ARGUMENT);
        expect(readFieldViolations(err)).toEqual([expect.objectContaining({ field: "customer_phone" })]);
        expect(await count()).toBe(before);
        expect(stack.twilio.messages.length).toBe(sent);
      });

      it("a missing or wrong API key is UNAUTHENTICATED", async () => {
        const before = await count();
        const sent = stack.twilio.messages.length;
        await expect(
          call(stack.api, "createWorkflow", base, { metadata: stack.auth("") }),
        ).rejects.toMatchObject({
          code: status.UNAUTHENTICATED,
        });
        await expect(
          call(stack.api, "createWorkflow", base, {
            metadata: stack.auth("lf_test_not_a_real_key_000000000000"),
          }),
        ).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
        expect(await count()).toBe(before);
        expect(stack.twilio.messages.length).toBe(sent);
      });

      it("a link token that does not exist gets a 404 page", async () => {
        const res = await fetch(`${stack.node.publicBaseUrl}/l/${"A".repeat(43)}`);
        expect(res.status).toBe(404);
        const body = await res.text();
        expect(body).toContain("We could not find this link");
        expect(body).not.toMatch(/at .*\.ts:\d+/);
        const junk = await fetch(`${stack.node.publicBaseUrl}/l/%E0%A4%A`);
        expect([400, 404]).toContain(junk.status);
      });
    });
  });
}

describe("the node serves the business console on its HTTP address", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ tracing: false });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("a console user signs in and sees the business's workflows, through the public API", async () => {
    const { createApiKey } = await import("../../gateway/node/index.ts");
    const key = await createApiKey(stack.node.internalAddress, stack.business.businessId, "console");
    await stack.node.console.createUser({
      businessId: stack.business.businessId,
      email: "ops@acme.test",
      password: "correct horse battery",
      role: "operator",
      apiKey: key,
    });
    const created = await call(
      stack.api,
      "createWorkflow",
      {
        templateName: "welcome",
        templateVersion: 0,
        inputs: {},
        customerPhone: "+14155550177",
        customerEmail: "",
        customerId: "",
        channel: 0,
        externalId: "",
        memo: "",
        idempotencyKey: "console-visible-1",
      },
      { metadata: stack.auth() },
    );
    const base = `http://${stack.node.httpAddress}`;
    const login = await fetch(`${base}/console/login`);
    const pre = login.headers.get("set-cookie")?.split(";")[0] ?? "";
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await login.text())?.[1] ?? "";
    const signIn = await fetch(`${base}/console/login`, {
      method: "POST",
      headers: { cookie: pre, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf, email: "ops@acme.test", password: "correct horse battery" }),
      redirect: "manual",
    });
    expect(signIn.status).toBe(303);
    const session = signIn.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    const page = await fetch(`${base}/console/workflows`, { headers: { cookie: `${pre}; ${session}` } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(created.workflow!.id);
    expect(html).not.toContain(key);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
  });
});
