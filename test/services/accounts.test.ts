import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Sql } from "../../core/index.ts";
import { type AccountsServiceClient, CustomerStatus, type IndividualProfile } from "../../proto/index.ts";
import {
  createAccountsClient,
  createAccountsService,
  migrateAccounts,
} from "../../services/accounts/index.ts";
import {
  call,
  type ListeningServer,
  listen,
  readErrorCode,
  readFieldViolations,
} from "../../services/grpc/index.ts";
import { createTestDatabase } from "../infra/index.ts";
import { captureLogs, rejected } from "./helpers.ts";

const logs = captureLogs();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let server: ListeningServer;
let client: AccountsServiceClient;

const person = (over: Partial<IndividualProfile> = {}): IndividualProfile => ({
  firstName: "Ada",
  lastName: "Lovelace",
  email: "ada@example.com",
  phone: "+15551234567",
  addresses: [],
  ...over,
});

async function newBusiness(name = "Acme"): Promise<string> {
  const res = await call(client, "createBusiness", { name, parentBusinessId: "", idempotencyKey: "" });
  return res.business!.id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url);
  await migrateAccounts(sql);
  await migrateAccounts(sql); // idempotent
  server = await listen([createAccountsService({ sql })]);
  client = createAccountsClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await sql?.end({ timeout: 5 });
  await db?.drop();
  logs.restore();
});

describe("accounts service", () => {
  it("creates businesses with a parent and reads them back", async () => {
    const parent = await newBusiness("Parent Co");
    const child = await call(client, "createBusiness", {
      name: "Child Co",
      parentBusinessId: parent,
      idempotencyKey: "",
    });
    expect(child.business).toMatchObject({ name: "Child Co", parentBusinessId: parent });
    const got = await call(client, "getBusiness", { businessId: child.business!.id });
    expect(got.business?.id).toBe(child.business!.id);
    const missing = await rejected(call(client, "getBusiness", { businessId: "biz_nope" }));
    expect(missing.code).toBe(status.NOT_FOUND);
    const badParent = await rejected(
      call(client, "createBusiness", { name: "x", parentBusinessId: "biz_missing", idempotencyKey: "" }),
    );
    expect(badParent.code).toBe(status.NOT_FOUND);
  });

  it("creates API keys, authenticates them, and refuses wrong or revoked keys", async () => {
    const biz = await newBusiness();
    const created = await call(client, "createApiKey", {
      businessId: biz,
      name: "server",
      idempotencyKey: "",
    });
    expect(created.apiKey).toMatch(/^lf_test_[\w-]{20,}$/);
    expect(created.key?.prefix).toBe(created.apiKey.slice(0, 12));
    const auth = await call(client, "authenticateApiKey", { apiKey: created.apiKey });
    expect(auth).toEqual({ businessId: biz, keyId: created.key!.id });

    const wrong = await rejected(call(client, "authenticateApiKey", { apiKey: `${created.apiKey}x` }));
    expect(wrong.code).toBe(status.UNAUTHENTICATED);
    const garbage = await rejected(call(client, "authenticateApiKey", { apiKey: "hello" }));
    expect(garbage.code).toBe(status.UNAUTHENTICATED);

    const stored = await sql`select key_hash from accounts.api_keys where id = ${created.key!.id}`;
    expect(stored[0]?.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(created.apiKey);

    const listed = await call(client, "listApiKeys", { businessId: biz });
    expect(listed.keys.map((k) => k.id)).toEqual([created.key!.id]);

    // Without a keyring the secret is not kept for replays: a retry is told so, and nothing usable is stored.
    const once = await call(client, "createApiKey", {
      businessId: biz,
      name: "ci",
      idempotencyKey: "ci-key-1",
    });
    const replay = await rejected(
      call(client, "createApiKey", { businessId: biz, name: "ci", idempotencyKey: "ci-key-1" }),
    );
    expect(replay.code).toBe(status.FAILED_PRECONDITION);
    expect(readErrorCode(replay)).toBe("api_key_shown_once");
    const claims = await sql<
      { response: Buffer }[]
    >`select response from accounts.idempotency where key = 'ci-key-1'`;
    expect(claims[0]!.response.includes(once.apiKey)).toBe(false);
    await call(client, "revokeApiKey", { businessId: biz, keyId: once.key!.id });

    const revoked = await call(client, "revokeApiKey", { businessId: biz, keyId: created.key!.id });
    expect(revoked.key?.revokedAt).toBeInstanceOf(Date);
    const after = await rejected(call(client, "authenticateApiKey", { apiKey: created.apiKey }));
    expect(after.code).toBe(status.UNAUTHENTICATED);

    const other = await newBusiness("Other");
    const foreign = await rejected(
      call(client, "revokeApiKey", { businessId: other, keyId: created.key!.id }),
    );
    expect(foreign.code).toBe(status.NOT_FOUND);
  });

  it("creates individual and business customers", async () => {
    const biz = await newBusiness();
    const ind = await call(client, "createCustomer", {
      businessId: biz,
      idempotencyKey: "",
      externalId: "crm-1",
      profile: {
        $case: "individual",
        value: person({
          addresses: [
            {
              kind: 1,
              line1: "1 Main St",
              line2: "",
              city: "Springfield",
              region: "IL",
              postalCode: "62701",
              country: "US",
            },
          ],
        }),
      },
    });
    expect(ind.customer?.id).toMatch(/^cus_/);
    expect(ind.customer?.externalId).toBe("crm-1");
    expect(ind.customer?.status).toBe(CustomerStatus.CUSTOMER_STATUS_ACTIVE);
    expect(ind.customer?.profile).toEqual({
      $case: "individual",
      value: expect.objectContaining({ firstName: "Ada", phone: "+15551234567" }),
    });
    expect(ind.customer?.statusHistory).toHaveLength(1);

    const company = await call(client, "createCustomer", {
      businessId: biz,
      idempotencyKey: "",
      externalId: "",
      profile: {
        $case: "business",
        value: {
          dbaName: "Widgets LLC",
          primaryContact: {
            firstName: "Bo",
            lastName: "Smith",
            email: "bo@widgets.test",
            phone: "+442071234567",
          },
          contacts: [],
          addresses: [],
        },
      },
    });
    expect(company.customer?.profile?.$case).toBe("business");

    const got = await call(client, "getCustomer", { businessId: biz, customerId: ind.customer!.id });
    expect(got.customer).toEqual(ind.customer);

    const list = await call(client, "listCustomers", {
      businessId: biz,
      page: { pageSize: 1, pageToken: "" },
      status: 0,
    });
    expect(list.customers.map((c) => c.id)).toEqual([company.customer!.id]);
    const next = await call(client, "listCustomers", {
      businessId: biz,
      page: { pageSize: 1, pageToken: list.nextPageToken },
      status: 0,
    });
    expect(next.customers.map((c) => c.id)).toEqual([ind.customer!.id]);
  });

  it("rejects bad input with a field violation per bad field", async () => {
    const biz = await newBusiness();
    const err = await rejected(
      call(client, "createCustomer", {
        businessId: biz,
        idempotencyKey: "",
        externalId: "",
        profile: {
          $case: "individual",
          value: person({
            firstName: "",
            lastName: "x".repeat(101),
            email: "not-an-email",
            phone: "5551234",
          }),
        },
      }),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(readErrorCode(err)).toBe("invalid_argument");
    const fields = readFieldViolations(err).map((v) => v.field);
    expect(fields).toEqual([
      "individual.first_name",
      "individual.last_name",
      "individual.email",
      "individual.phone",
    ]);
    expect(readFieldViolations(err)[3]?.description).toContain("E.164");

    const noProfile = await rejected(
      call(client, "createCustomer", { businessId: "", idempotencyKey: "", externalId: "" }),
    );
    expect(readFieldViolations(noProfile).map((v) => v.field)).toEqual(["business_id", "profile"]);
  });

  it("deduplicates on idempotency keys, even for concurrent retries", async () => {
    const biz = await newBusiness();
    const req = {
      businessId: biz,
      idempotencyKey: "idem-1",
      externalId: "",
      profile: { $case: "individual" as const, value: person() },
    };
    const first = await call(client, "createCustomer", req);
    const again = await call(client, "createCustomer", req);
    expect(again.customer).toEqual(first.customer);

    const reused = await rejected(
      call(client, "createCustomer", {
        ...req,
        profile: { $case: "individual", value: person({ firstName: "Bob" }) },
      }),
    );
    expect(reused.code).toBe(status.FAILED_PRECONDITION);
    expect(readErrorCode(reused)).toBe("idempotency_key_reused");

    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => call(client, "createCustomer", { ...req, idempotencyKey: "idem-2" })),
    );
    expect(new Set(concurrent.map((r) => r.customer!.id)).size).toBe(1);
    const rows = await sql`select count(*)::int as n from accounts.customers where business_id = ${biz}`;
    expect(rows[0]?.n).toBe(2);
  });

  it("scopes customers to their business", async () => {
    const a = await newBusiness("A");
    const b = await newBusiness("B");
    const created = await call(client, "createCustomer", {
      businessId: a,
      idempotencyKey: "same-key",
      externalId: "",
      profile: { $case: "individual", value: person() },
    });
    const id = created.customer!.id;
    const err = await rejected(call(client, "getCustomer", { businessId: b, customerId: id }));
    expect(err.code).toBe(status.NOT_FOUND);
    const upd = await rejected(
      call(client, "updateCustomer", {
        businessId: b,
        customerId: id,
        idempotencyKey: "",
        externalId: "",
        profile: { $case: "individual", value: person() },
      }),
    );
    expect(upd.code).toBe(status.NOT_FOUND);
    const st = await rejected(
      call(client, "setCustomerStatus", {
        businessId: b,
        customerId: id,
        status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
        reason: "x",
        idempotencyKey: "",
      }),
    );
    expect(st.code).toBe(status.NOT_FOUND);
    const listB = await call(client, "listCustomers", { businessId: b, status: 0 });
    expect(listB.customers).toEqual([]);
    // The same idempotency key in another business is another request.
    const inB = await call(client, "createCustomer", {
      businessId: b,
      idempotencyKey: "same-key",
      externalId: "",
      profile: { $case: "individual", value: person() },
    });
    expect(inB.customer?.id).not.toBe(id);
  });

  it("updates profiles and records status changes with reasons", async () => {
    const biz = await newBusiness();
    const created = await call(client, "createCustomer", {
      businessId: biz,
      idempotencyKey: "",
      externalId: "",
      profile: { $case: "individual", value: person() },
    });
    const id = created.customer!.id;
    const updated = await call(client, "updateCustomer", {
      businessId: biz,
      customerId: id,
      idempotencyKey: "",
      externalId: "crm-9",
      profile: { $case: "individual", value: person({ lastName: "Byron" }) },
    });
    expect(updated.customer?.externalId).toBe("crm-9");
    expect(updated.customer?.profile?.value).toMatchObject({ lastName: "Byron" });

    const kind = await rejected(
      call(client, "updateCustomer", {
        businessId: biz,
        customerId: id,
        idempotencyKey: "",
        externalId: "",
        profile: {
          $case: "business",
          value: {
            dbaName: "X",
            primaryContact: { firstName: "a", lastName: "b", email: "a@b.co", phone: "+15550001111" },
            contacts: [],
            addresses: [],
          },
        },
      }),
    );
    expect(kind.code).toBe(status.INVALID_ARGUMENT);

    const suspended = await call(client, "setCustomerStatus", {
      businessId: biz,
      customerId: id,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: "fraud review",
      idempotencyKey: "",
    });
    expect(suspended.customer?.status).toBe(CustomerStatus.CUSTOMER_STATUS_SUSPENDED);
    expect(suspended.customer?.statusHistory.map((h) => h.reason)).toEqual(["created", "fraud review"]);
    const noReason = await rejected(
      call(client, "setCustomerStatus", {
        businessId: biz,
        customerId: id,
        status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
        reason: "",
        idempotencyKey: "",
      }),
    );
    expect(readFieldViolations(noReason).map((v) => v.field)).toEqual(["reason"]);

    const reactivated = await call(client, "setCustomerStatus", {
      businessId: biz,
      customerId: id,
      status: CustomerStatus.CUSTOMER_STATUS_ACTIVE,
      reason: "review cleared",
      idempotencyKey: "",
    });
    const history = reactivated.customer!.statusHistory;
    expect(history.map((h) => [h.status, h.reason])).toEqual([
      [CustomerStatus.CUSTOMER_STATUS_ACTIVE, "created"],
      [CustomerStatus.CUSTOMER_STATUS_SUSPENDED, "fraud review"],
      [CustomerStatus.CUSTOMER_STATUS_ACTIVE, "review cleared"],
    ]);
    const times = history.map((h) => h.changedAt!.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // The history is the customer's own record: reading it back gives the same, external id included.
    const read = await call(client, "getCustomer", { businessId: biz, customerId: id });
    expect(read.customer?.statusHistory).toEqual(history);
    expect(read.customer?.externalId).toBe("crm-9");
  });

  it("never logs API keys or phone numbers", () => {
    const text = logs.text();
    expect(text).toContain("customer created");
    expect(text).not.toMatch(/lf_test_/);
    expect(text).not.toContain("+15551234567");
    expect(text).not.toContain("ada@example.com");
  });
});
