import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { credentials, loadPackageDefinition, status } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";
import {
  BankAccountType,
  CustomerStatus,
  FinancialAccountSource,
  NotificationsServiceClient,
  TransactionStatus,
  WebhookSubscriptionStatus,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { createWorkflowRequest, expectViolations, failure, useApiStack } from "./harness.ts";

const api = useApiStack();

describe("BusinessService", () => {
  it("creates child businesses; a parent's key sees them and acts for them with linkflow-business-id", async () => {
    const req = { name: "Acme West", idempotencyKey: "child-west-123" };
    const child = (await call(api.businesses, "createChildBusiness", req, api.asA())).business!;
    expect(child.parentBusinessId).toBe(api.a.businessId);
    const replay = (await call(api.businesses, "createChildBusiness", req, api.asA())).business!;
    expect(replay.id).toBe(child.id);

    const kids = await call(api.businesses, "listChildBusinesses", {}, api.asA());
    expect(kids.businesses.map((b) => b.id)).toEqual([child.id]);
    expect(
      (await call(api.businesses, "getBusiness", { businessId: child.id }, api.asA())).business?.name,
    ).toBe("Acme West");

    // Acting for the child: a workflow made this way belongs to the child, and the parent sees it.
    const asChild = { metadata: api.auth(api.a.apiKey, child.id) };
    expect((await call(api.businesses, "getBusiness", { businessId: "" }, asChild)).business?.id).toBe(
      child.id,
    );
    const { workflow } = await call(
      api.workflows,
      "createWorkflow",
      createWorkflowRequest({ customerPhone: "+14155550177" }),
      asChild,
    );
    expect(
      (await call(api.workflows, "getWorkflow", { workflowId: workflow!.id }, api.asA())).workflow?.id,
    ).toBe(workflow!.id);
    expect(
      (await call(api.workflows, "getWorkflow", { workflowId: workflow!.id }, asChild)).workflow?.id,
    ).toBe(workflow!.id);
    expect(
      await failure(call(api.workflows, "getWorkflow", { workflowId: workflow!.id }, api.asB())),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
    // The parent reading the child's history sees the child's notifications (the link SMS).
    await expect
      .poll(
        async () =>
          (
            await call(api.workflows, "getWorkflowHistory", { workflowId: workflow!.id }, api.asA())
          ).notifications.map((n) => n.origin),
        { timeout: 10_000 },
      )
      .toEqual(["INITIAL"]);

    // A child's own key does not reach its parent; another business cannot act for the child.
    const childKey = await call(
      api.businesses,
      "createApiKey",
      { businessId: child.id, name: "west", idempotencyKey: "" },
      api.asA(),
    );
    expect(childKey.key?.businessId).toBe(child.id);
    const asChildKey = { metadata: api.auth(childKey.apiKey) };
    expect(
      await failure(call(api.businesses, "getBusiness", { businessId: api.a.businessId }, asChildKey)),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(
      await failure(
        call(
          api.businesses,
          "getBusiness",
          { businessId: "" },
          { metadata: api.auth(api.b.apiKey, child.id) },
        ),
      ),
    ).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(
      await failure(call(api.businesses, "listApiKeys", { businessId: child.id }, api.asB())),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it("creates, lists and revokes API keys; a revoked key stops working", async () => {
    const made = await call(
      api.businesses,
      "createApiKey",
      { businessId: "", name: "ci", idempotencyKey: "" },
      api.asA(),
    );
    expect(made.apiKey).not.toBe("");
    const mine = { metadata: api.auth(made.apiKey) };
    expect((await call(api.businesses, "getBusiness", { businessId: "" }, mine)).business?.id).toBe(
      api.a.businessId,
    );
    const keys = await call(api.businesses, "listApiKeys", { businessId: "" }, api.asA());
    expect(keys.keys.map((k) => k.id)).toContain(made.key!.id);
    // Key material is never listed.
    expect(JSON.stringify(keys)).not.toContain(made.apiKey);

    expect(
      await failure(
        call(
          api.businesses,
          "revokeApiKey",
          { keyId: made.key!.id, businessId: "", idempotencyKey: "" },
          api.asB(),
        ),
      ),
    ).toMatchObject({ code: status.NOT_FOUND });
    const req = { keyId: made.key!.id, businessId: "", idempotencyKey: "revoke-ci-123" };
    const revoked = await call(api.businesses, "revokeApiKey", req, api.asA());
    expect(revoked.key?.revokedAt).toBeInstanceOf(Date);
    expect(await call(api.businesses, "revokeApiKey", req, api.asA())).toEqual(revoked);
    expect(await failure(call(api.businesses, "getBusiness", { businessId: "" }, mine))).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
  });

  it("rejects bad input on every field", async () => {
    await expectViolations([
      [() => call(api.businesses, "getBusiness", { businessId: "nope" }, api.asA()), "business_id"],
      [
        () => call(api.businesses, "createChildBusiness", { name: "", idempotencyKey: "" }, api.asA()),
        "name",
      ],
      [
        () =>
          call(
            api.businesses,
            "createChildBusiness",
            { name: "x".repeat(101), idempotencyKey: "" },
            api.asA(),
          ),
        "name",
      ],
      [
        () => call(api.businesses, "createChildBusiness", { name: "ok", idempotencyKey: "short" }, api.asA()),
        "idempotency_key",
      ],
      [
        () =>
          call(api.businesses, "createApiKey", { businessId: "", name: "", idempotencyKey: "" }, api.asA()),
        "name",
      ],
      [
        () =>
          call(
            api.businesses,
            "createApiKey",
            { businessId: "biz!", name: "k", idempotencyKey: "" },
            api.asA(),
          ),
        "business_id",
      ],
      [
        () =>
          call(
            api.businesses,
            "createApiKey",
            { businessId: "", name: "k", idempotencyKey: "x y z w v" },
            api.asA(),
          ),
        "idempotency_key",
      ],
      [() => call(api.businesses, "listApiKeys", { businessId: "x" }, api.asA()), "business_id"],
      [
        () =>
          call(api.businesses, "revokeApiKey", { keyId: "", businessId: "", idempotencyKey: "" }, api.asA()),
        "key_id",
      ],
      [
        () =>
          call(
            api.businesses,
            "revokeApiKey",
            { keyId: "key_1", businessId: "b", idempotencyKey: "" },
            api.asA(),
          ),
        "business_id",
      ],
      [
        () =>
          call(
            api.businesses,
            "revokeApiKey",
            { keyId: "key_1", businessId: "", idempotencyKey: "12" },
            api.asA(),
          ),
        "idempotency_key",
      ],
    ]);
  });
});

describe("WebhookService", () => {
  it("manages subscriptions, secrets, events, deliveries and redelivery for the caller only", async () => {
    const created = await call(
      api.webhooks,
      "createWebhook",
      { url: api.stack.webhooks.url, eventTypes: ["workflow.*"], idempotencyKey: "hook-1-abcdef" },
      api.asA(),
    );
    const sub = created.subscription!;
    expect(created.secret).toMatch(/^whsec_/);
    expect(
      (await call(api.webhooks, "listWebhooks", {}, api.asA())).subscriptions.map((s) => s.id),
    ).toContain(sub.id);
    expect((await call(api.webhooks, "listWebhooks", {}, api.asB())).subscriptions).toEqual([]);

    const rolled = await call(
      api.webhooks,
      "rollWebhookSecret",
      { subscriptionId: sub.id, overlapSeconds: 60, idempotencyKey: "" },
      api.asA(),
    );
    expect(rolled.secret).not.toBe(created.secret);
    expect(rolled.subscription?.previousSecretExpiresAt).toBeInstanceOf(Date);

    const suspended = await call(
      api.webhooks,
      "suspendWebhook",
      { subscriptionId: sub.id, reason: "maintenance", idempotencyKey: "suspend-1-abc" },
      api.asA(),
    );
    expect(suspended.subscription?.status).toBe(
      WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_SUSPENDED,
    );
    const resumed = await call(
      api.webhooks,
      "resumeWebhook",
      { subscriptionId: sub.id, idempotencyKey: "" },
      api.asA(),
    );
    expect(resumed.subscription?.status).toBe(WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_ACTIVE);

    for (const [m, r] of [
      ["suspendWebhook", { subscriptionId: sub.id, reason: "", idempotencyKey: "" }],
      ["resumeWebhook", { subscriptionId: sub.id, idempotencyKey: "" }],
      ["rollWebhookSecret", { subscriptionId: sub.id, overlapSeconds: 0, idempotencyKey: "" }],
      ["deleteWebhook", { subscriptionId: sub.id, idempotencyKey: "" }],
    ] as const) {
      // biome-ignore lint/suspicious/noExplicitAny: one loop over differently typed methods
      expect(await failure(call(api.webhooks, m as any, r as any, api.asB())), m).toMatchObject({
        code: status.NOT_FOUND,
      });
    }

    // An event for the business (as a workflow would publish it) reaches its subscriptions.
    const internal = new NotificationsServiceClient(
      api.stack.node.internalAddress,
      credentials.createInsecure(),
    );
    try {
      await call(internal, "publishEvent", {
        businessId: api.a.businessId,
        type: "workflow.completed",
        payloadJson: "{}",
        workflowId: "",
        idempotencyKey: "evt-test-1",
      });
    } finally {
      internal.close();
    }
    let eventId = "";
    await expect
      .poll(async () => {
        const ev = await call(
          api.webhooks,
          "listWebhookEvents",
          { type: "", workflowId: "", pageSize: 0, pageToken: "" },
          api.asA(),
        );
        eventId = ev.events[0]?.id ?? "";
        return ev.events.length;
      })
      .toBeGreaterThan(0);
    expect(
      (
        await call(
          api.webhooks,
          "listWebhookEvents",
          { type: "", workflowId: "", pageSize: 0, pageToken: "" },
          api.asB(),
        )
      ).events,
    ).toEqual([]);
    // The event goes to both of the business's subscriptions (the stack's and this test's).
    let deliveryId = "";
    let otherDeliveryId = "";
    await expect
      .poll(async () => {
        const d = await call(api.webhooks, "listWebhookDeliveries", { eventId, pageSize: 0 }, api.asA());
        deliveryId = d.deliveries[0]?.id ?? "";
        otherDeliveryId = d.deliveries[1]?.id ?? "";
        return d.deliveries.length;
      })
      .toBe(2);
    const again = await call(
      api.webhooks,
      "redeliverWebhook",
      { deliveryId, idempotencyKey: "redeliver-1-abc" },
      api.asA(),
    );
    expect(again.delivery?.id).toBe(deliveryId);
    expect(
      await call(
        api.webhooks,
        "redeliverWebhook",
        { deliveryId, idempotencyKey: "redeliver-1-abc" },
        api.asA(),
      ),
    ).toEqual(again);
    expect(
      await failure(
        call(
          api.webhooks,
          "redeliverWebhook",
          { deliveryId: otherDeliveryId, idempotencyKey: "redeliver-1-abc" },
          api.asA(),
        ),
      ),
    ).toMatchObject({ code: status.FAILED_PRECONDITION, reason: "idempotency_key_reused" });
    expect(
      await failure(call(api.webhooks, "redeliverWebhook", { deliveryId, idempotencyKey: "" }, api.asB())),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });

    await call(api.webhooks, "deleteWebhook", { subscriptionId: sub.id, idempotencyKey: "" }, api.asA());
    expect(
      (await call(api.webhooks, "listWebhooks", {}, api.asA())).subscriptions.map((s) => s.id),
    ).not.toContain(sub.id);
  });

  it("rejects bad input on every field", async () => {
    await expectViolations([
      [
        () => call(api.webhooks, "createWebhook", { url: "", eventTypes: [], idempotencyKey: "" }, api.asA()),
        "url",
      ],
      [
        () =>
          call(
            api.webhooks,
            "createWebhook",
            { url: "ftp://x", eventTypes: [], idempotencyKey: "" },
            api.asA(),
          ),
        "url",
      ],
      [
        () =>
          call(
            api.webhooks,
            "createWebhook",
            { url: "https://example.com/h", eventTypes: [], idempotencyKey: "k" },
            api.asA(),
          ),
        "idempotency_key",
      ],
      [
        () => call(api.webhooks, "deleteWebhook", { subscriptionId: "", idempotencyKey: "" }, api.asA()),
        "subscription_id",
      ],
      [
        () =>
          call(
            api.webhooks,
            "rollWebhookSecret",
            { subscriptionId: "x", overlapSeconds: 0, idempotencyKey: "" },
            api.asA(),
          ),
        "subscription_id",
      ],
      [
        () =>
          call(
            api.webhooks,
            "suspendWebhook",
            { subscriptionId: "whs_a", reason: "r".repeat(501), idempotencyKey: "" },
            api.asA(),
          ),
        "reason",
      ],
      [
        () => call(api.webhooks, "resumeWebhook", { subscriptionId: "", idempotencyKey: "" }, api.asA()),
        "subscription_id",
      ],
      [
        () =>
          call(
            api.webhooks,
            "listWebhookEvents",
            { type: "", workflowId: "wf_x", pageSize: 0, pageToken: "" },
            api.asA(),
          ),
        "workflow_id",
      ],
      [
        () =>
          call(
            api.webhooks,
            "listWebhookEvents",
            { type: "", workflowId: "", pageSize: 501, pageToken: "" },
            api.asA(),
          ),
        "page_size",
      ],
      [
        () => call(api.webhooks, "listWebhookDeliveries", { eventId: "nope", pageSize: 0 }, api.asA()),
        "event_id",
      ],
      [
        () => call(api.webhooks, "redeliverWebhook", { deliveryId: "", idempotencyKey: "" }, api.asA()),
        "delivery_id",
      ],
    ]);
  });
});

describe("Customer, FinancialAccount and Transaction services", () => {
  it("proxy the internal services for the caller's business only", async () => {
    const individual = {
      firstName: "Ada",
      lastName: "Lovelace",
      email: "ada@example.com",
      phone: "+14155550199",
      addresses: [],
    };
    const req = {
      profile: { $case: "individual" as const, value: individual },
      externalId: "c-1",
      idempotencyKey: "customer-ada-1",
    };
    const c = (await call(api.customers, "createCustomer", req, api.asA())).customer!;
    expect(c.id).toMatch(/^cus_/);
    expect((await call(api.customers, "createCustomer", req, api.asA())).customer?.id).toBe(c.id);
    expect(
      await failure(call(api.customers, "createCustomer", { ...req, externalId: "c-2" }, api.asA())),
    ).toMatchObject({
      code: status.FAILED_PRECONDITION,
      reason: "idempotency_key_reused",
    });
    expect(
      (await call(api.customers, "getCustomer", { customerId: c.id }, api.asA())).customer?.externalId,
    ).toBe("c-1");
    expect(await failure(call(api.customers, "getCustomer", { customerId: c.id }, api.asB()))).toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(
      (await call(api.customers, "listCustomers", { page: undefined, status: 0 }, api.asA())).customers.map(
        (x) => x.id,
      ),
    ).toContain(c.id);
    expect(
      (await call(api.customers, "listCustomers", { page: undefined, status: 0 }, api.asB())).customers,
    ).toEqual([]);
    const suspended = await call(
      api.customers,
      "setCustomerStatus",
      {
        customerId: c.id,
        status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
        reason: "review",
        idempotencyKey: "",
      },
      api.asA(),
    );
    expect(suspended.customer?.status).toBe(CustomerStatus.CUSTOMER_STATUS_SUSPENDED);

    const fa = (
      await call(
        api.financialAccounts,
        "addFinancialAccount",
        {
          customerId: c.id,
          name: "Checking",
          source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
          providerAccountId: "",
          details: {
            $case: "bankAccount",
            value: {
              routingNumber: "011000015",
              accountNumber: "000123456789",
              accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
              nameOnAccount: "Ada Lovelace",
            },
          },
          makeDefault: false,
          idempotencyKey: "",
        },
        api.asA(),
      )
    ).financialAccount!;
    expect(fa.numberLast4).toBe("6789");
    expect(JSON.stringify(fa)).not.toContain("000123456789");
    expect(
      await failure(
        call(api.financialAccounts, "getFinancialAccount", { financialAccountId: fa.id }, api.asB()),
      ),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(
      (
        await call(api.financialAccounts, "listFinancialAccounts", { customerId: c.id }, api.asA())
      ).financialAccounts.map((x) => x.id),
    ).toEqual([fa.id]);
    expect(
      (
        await call(
          api.financialAccounts,
          "setDefaultFinancialAccount",
          { financialAccountId: fa.id, idempotencyKey: "" },
          api.asA(),
        )
      ).financialAccount?.isDefault,
    ).toBe(true);

    expect(
      (await call(api.transactions, "listTransactions", { customerId: "", page: undefined }, api.asA()))
        .transactions,
    ).toEqual([]);
    expect(
      await failure(
        call(
          api.transactions,
          "getTransaction",
          { transactionId: "txn_06h0000000000000000000000" },
          api.asA(),
        ),
      ),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(
      await failure(
        call(
          api.transactions,
          "cancelTransaction",
          { transactionId: "txn_06h0000000000000000000000", reason: "", idempotencyKey: "" },
          api.asA(),
        ),
      ),
    ).toMatchObject({ code: status.NOT_FOUND });
    expect(TransactionStatus.TRANSACTION_STATUS_CANCELLED).toBeGreaterThan(0);

    await call(api.customers, "deleteCustomer", { customerId: c.id, idempotencyKey: "" }, api.asA());
    expect(await failure(call(api.customers, "getCustomer", { customerId: c.id }, api.asA()))).toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it("rejects bad input on every field", async () => {
    await expectViolations([
      [
        () =>
          call(
            api.customers,
            "createCustomer",
            { profile: undefined, externalId: "", idempotencyKey: "" },
            api.asA(),
          ),
        "profile",
      ],
      [() => call(api.customers, "getCustomer", { customerId: "" }, api.asA()), "customer_id"],
      [() => call(api.customers, "getCustomer", { customerId: "cust" }, api.asA()), "customer_id"],
      [
        () =>
          call(
            api.customers,
            "updateCustomer",
            { customerId: "x", profile: undefined, externalId: "", idempotencyKey: "" },
            api.asA(),
          ),
        "customer_id",
      ],
      [
        () =>
          call(
            api.customers,
            "setCustomerStatus",
            { customerId: "", status: 1, reason: "", idempotencyKey: "" },
            api.asA(),
          ),
        "customer_id",
      ],
      [
        () => call(api.customers, "deleteCustomer", { customerId: "", idempotencyKey: "" }, api.asA()),
        "customer_id",
      ],
      [
        () =>
          call(api.customers, "disconnectFinancialData", { customerId: "c", idempotencyKey: "" }, api.asA()),
        "customer_id",
      ],
      [
        () =>
          call(api.customers, "deleteCustomer", { customerId: "cus_abc", idempotencyKey: "no" }, api.asA()),
        "idempotency_key",
      ],
      [
        () => call(api.financialAccounts, "getFinancialAccount", { financialAccountId: "" }, api.asA()),
        "financial_account_id",
      ],
      [
        () => call(api.financialAccounts, "listFinancialAccounts", { customerId: "" }, api.asA()),
        "customer_id",
      ],
      [
        () =>
          call(
            api.financialAccounts,
            "setDefaultFinancialAccount",
            { financialAccountId: "f", idempotencyKey: "" },
            api.asA(),
          ),
        "financial_account_id",
      ],
      [
        () =>
          call(
            api.financialAccounts,
            "setFinancialAccountStatus",
            { financialAccountId: "", status: 1, reason: "", idempotencyKey: "" },
            api.asA(),
          ),
        "financial_account_id",
      ],
      [
        () =>
          call(
            api.financialAccounts,
            "addFinancialAccount",
            {
              customerId: "",
              name: "",
              source: 0,
              providerAccountId: "",
              details: undefined,
              makeDefault: false,
              idempotencyKey: "",
            },
            api.asA(),
          ),
        "customer_id",
      ],
      [() => call(api.transactions, "getTransaction", { transactionId: "" }, api.asA()), "transaction_id"],
      [
        () => call(api.transactions, "listTransactions", { customerId: "c", page: undefined }, api.asA()),
        "customer_id",
      ],
      [
        () =>
          call(
            api.transactions,
            "cancelTransaction",
            { transactionId: "t", reason: "", idempotencyKey: "" },
            api.asA(),
          ),
        "transaction_id",
      ],
      [
        () =>
          call(
            api.transactions,
            "cancelTransaction",
            { transactionId: "txn_a", reason: "r".repeat(501), idempotencyKey: "" },
            api.asA(),
          ),
        "reason",
      ],
    ]);
  });
});

describe("server reflection and health", () => {
  it("lists the public services to a reflection client (what grpcurl does)", async () => {
    const require = createRequire(import.meta.url);
    const root = join(dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto");
    const def = loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [root], keepCase: true });
    // biome-ignore lint/suspicious/noExplicitAny: a dynamically loaded client
    const pkg = loadPackageDefinition(def) as any;
    const client = new pkg.grpc.reflection.v1.ServerReflection(api.address, credentials.createInsecure());
    try {
      const services = await new Promise<string[]>((resolve, reject) => {
        const stream = client.ServerReflectionInfo();
        stream.on("data", (m: { list_services_response?: { service: { name: string }[] } }) => {
          resolve(m.list_services_response?.service.map((s) => s.name) ?? []);
          stream.end();
        });
        stream.on("error", reject);
        stream.write({ list_services: "" });
      });
      expect(services).toEqual(
        expect.arrayContaining([
          "linkflow.v1.WorkflowService",
          "linkflow.v1.TemplateService",
          "linkflow.v1.BusinessService",
          "linkflow.v1.WebhookService",
          "linkflow.v1.CustomerService",
          "linkflow.v1.FinancialAccountService",
          "linkflow.v1.TransactionService",
          "grpc.health.v1.Health",
        ]),
      );
      expect(services).not.toContain("linkflow.v1.AccountsService");

      const file = await new Promise<Buffer[]>((resolve, reject) => {
        const stream = client.ServerReflectionInfo();
        stream.on("data", (m: { file_descriptor_response?: { file_descriptor_proto: Buffer[] } }) => {
          resolve(m.file_descriptor_response?.file_descriptor_proto ?? []);
          stream.end();
        });
        stream.on("error", reject);
        stream.write({ file_containing_symbol: "linkflow.v1.TemplateService" });
      });
      expect(Buffer.concat(file).toString("latin1")).toContain("PublishTemplate");
    } finally {
      client.close();
    }
  });
});
