import { BankAccountType, FinancialAccountSource, WorkflowStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import type { ApiHarness } from "../api/harness.ts";
import { HttpCustomer } from "../support/http-customer.ts";

/** Data the console tests act on, made through the services as an integrating business would. */
export interface Business {
  businessId: string;
  apiKey: string;
}

/** Starts a `welcome` workflow texted to `phone`; waits for the text so the workflow is settled. */
export async function startWorkflow(h: ApiHarness, biz: Business, phone: string): Promise<string> {
  const r = await call(
    h.workflows,
    "createWorkflow",
    {
      templateName: "welcome",
      templateVersion: 0,
      inputs: {},
      customerPhone: phone,
      customerEmail: "",
      customerId: "",
      channel: 0,
      externalId: "",
      memo: "",
      idempotencyKey: `fixture-start-${phone}`,
    },
    { metadata: h.auth(biz.apiKey) },
  );
  await h.stack.twilio.waitForMessage((m) => m.to === phone);
  return r.workflow!.id;
}

/** Starts a `terms_only` workflow emailed to `email` and opens its link on the hosted page. */
async function openTerms(
  h: ApiHarness,
  biz: Business,
  email: string,
  key: string,
): Promise<{ workflowId: string; customer: HttpCustomer }> {
  const r = await call(
    h.workflows,
    "createWorkflow",
    {
      templateName: "terms_only",
      templateVersion: 0,
      inputs: {},
      customerPhone: "",
      customerEmail: email,
      customerId: "",
      channel: 0,
      externalId: "",
      memo: "",
      idempotencyKey: `fixture-${key}-${email}`,
    },
    { metadata: h.auth(biz.apiKey) },
  );
  const customer = new HttpCustomer(
    r.linkUrl.replace(/^http:\/\/[^/]+/, `http://${h.stack.node.httpAddress}`),
  );
  await customer.open();
  if (customer.title !== "Updated terms") throw new Error(`the link opened "${customer.title}"`);
  return { workflowId: r.workflow!.id, customer };
}

/**
 * A `terms_only` workflow the customer declines on the hosted page: the business
 * gets a `workflow.declined` event, so there is a webhook delivery.
 */
export async function declinedWorkflow(
  h: ApiHarness,
  biz: Business,
  email: string,
  reason = "not today",
): Promise<string> {
  const { workflowId, customer } = await openTerms(h, biz, email, "decline");
  await customer.submit({ decision: "decline", reason: "other", other_reason: reason });
  const done: string = customer.title;
  if (done !== "Declined") throw new Error(`declining ended on "${done}"`);
  return workflowId;
}

/**
 * A `terms_only` workflow whose customer accepts both documents on the hosted
 * page; resolves once the workflow has completed and names its customer.
 */
export async function acceptedTerms(
  h: ApiHarness,
  biz: Business,
  email: string,
): Promise<{ workflowId: string; customerId: string }> {
  const { workflowId, customer } = await openTerms(h, biz, email, "accept");
  await customer.submit({ accept_0: "on", accept_1: "on" });
  for (let i = 0; ; i++) {
    const { workflow } = await call(
      h.workflows,
      "getWorkflow",
      { workflowId },
      { metadata: h.auth(biz.apiKey) },
    );
    if (workflow?.status === WorkflowStatus.WORKFLOW_STATUS_COMPLETED && workflow.customerId)
      return { workflowId, customerId: workflow.customerId };
    if (i > 300) throw new Error(`${workflowId} did not complete (on "${customer.title}")`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A customer (individual) of `businessId`, with a manually entered bank account when `account` is set. */
export async function createCustomer(
  h: ApiHarness,
  businessId: string,
  name: { first: string; last: string },
  account = false,
): Promise<{ customerId: string; financialAccountId?: string }> {
  const key = `${businessId}-${name.first}-${name.last}`.toLowerCase();
  const { customer } = await call(h.accounts, "createCustomer", {
    businessId,
    idempotencyKey: `fixture-customer-${key}`,
    profile: {
      $case: "individual",
      value: {
        firstName: name.first,
        lastName: name.last,
        email: `${name.first.toLowerCase()}@example.com`,
        phone: "",
        addresses: [],
      },
    },
    externalId: "",
  });
  if (!account) return { customerId: customer!.id };
  const fa = await call(h.accounts, "addFinancialAccount", {
    businessId,
    customerId: customer!.id,
    idempotencyKey: `fixture-account-${key}`,
    name: "Checking",
    source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
    providerAccountId: "",
    details: {
      $case: "bankAccount",
      value: {
        routingNumber: "011000015",
        accountNumber: "000987654321",
        accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
        nameOnAccount: `${name.first} ${name.last}`,
      },
    },
    makeDefault: true,
  });
  return { customerId: customer!.id, financialAccountId: fa.financialAccount!.id };
}

/** Waits until the business's webhook delivery log has a delivered delivery for `workflowId`; returns its id. */
export async function deliveredFor(h: ApiHarness, biz: Business, workflowId: string): Promise<string> {
  for (let i = 0; ; i++) {
    const { deliveries } = await call(
      h.webhooks,
      "listWebhookDeliveries",
      { eventId: "", pageSize: 100 },
      { metadata: h.auth(biz.apiKey) },
    );
    const d = deliveries.find((x) => x.workflowId === workflowId && x.attempts > 0);
    if (d) return d.id;
    if (i > 200) throw new Error(`no delivery for ${workflowId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
