import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  type BankAccountInput,
  BankAccountType,
  CardType,
  CustomerStatus,
  type FinancialAccountServiceAddFinancialAccountRequest,
  FinancialAccountSource,
  FinancialAccountStatus,
  type IndividualProfile,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { expectIdempotent, expectViolations, failure, useApiStack } from "./harness.ts";

const api = useApiStack();

const person = (over: Partial<IndividualProfile> = {}) => ({
  $case: "individual" as const,
  value: {
    firstName: "Katherine",
    lastName: "Johnson",
    email: "katherine@example.com",
    phone: "+14155550401",
    addresses: [],
    ...over,
  },
});

const bank = (over: Partial<FinancialAccountServiceAddFinancialAccountRequest> = {}) => ({
  customerId: "",
  name: "Checking",
  source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
  providerAccountId: "",
  details: {
    $case: "bankAccount" as const,
    value: {
      routingNumber: "011000015",
      accountNumber: "000123456789",
      accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
      nameOnAccount: "Katherine Johnson",
    },
  },
  makeDefault: false,
  idempotencyKey: "",
  ...over,
});

async function customer(externalId: string, as = api.asA()): Promise<string> {
  const { customer } = await call(
    api.customers,
    "createCustomer",
    { profile: person(), externalId, idempotencyKey: "" },
    as,
  );
  return customer!.id;
}

async function account(customerId: string, name = "Checking"): Promise<string> {
  return (await call(api.financialAccounts, "addFinancialAccount", bank({ customerId, name }), api.asA()))
    .financialAccount!.id;
}

describe("CustomerService and FinancialAccountService: tenant isolation", () => {
  it("another tenant's customer and accounts are NOT_FOUND for every call, and stay as they were", async () => {
    const cus = await customer("iso-1");
    const fa = await account(cus);
    const before = await call(api.customers, "getCustomer", { customerId: cus }, api.asA());
    const faBefore = await call(
      api.financialAccounts,
      "getFinancialAccount",
      { financialAccountId: fa },
      api.asA(),
    );

    const calls: Array<[string, () => Promise<unknown>]> = [
      ["GetCustomer", () => call(api.customers, "getCustomer", { customerId: cus }, api.asB())],
      [
        "UpdateCustomer",
        () =>
          call(
            api.customers,
            "updateCustomer",
            {
              customerId: cus,
              profile: person({ firstName: "Mallory" }),
              externalId: "",
              idempotencyKey: "",
            },
            api.asB(),
          ),
      ],
      [
        "SetCustomerStatus",
        () =>
          call(
            api.customers,
            "setCustomerStatus",
            {
              customerId: cus,
              status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
              reason: "x",
              idempotencyKey: "",
            },
            api.asB(),
          ),
      ],
      [
        "DisconnectFinancialData",
        () =>
          call(api.customers, "disconnectFinancialData", { customerId: cus, idempotencyKey: "" }, api.asB()),
      ],
      [
        "DeleteCustomer",
        () => call(api.customers, "deleteCustomer", { customerId: cus, idempotencyKey: "" }, api.asB()),
      ],
      [
        "AddFinancialAccount",
        () => call(api.financialAccounts, "addFinancialAccount", bank({ customerId: cus }), api.asB()),
      ],
      [
        "ListFinancialAccounts",
        () => call(api.financialAccounts, "listFinancialAccounts", { customerId: cus }, api.asB()),
      ],
      [
        "GetFinancialAccount",
        () => call(api.financialAccounts, "getFinancialAccount", { financialAccountId: fa }, api.asB()),
      ],
      [
        "SetFinancialAccountStatus",
        () =>
          call(
            api.financialAccounts,
            "setFinancialAccountStatus",
            {
              financialAccountId: fa,
              status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED,
              reason: "x",
              idempotencyKey: "",
            },
            api.asB(),
          ),
      ],
      [
        "SetDefaultFinancialAccount",
        () =>
          call(
            api.financialAccounts,
            "setDefaultFinancialAccount",
            { financialAccountId: fa, idempotencyKey: "" },
            api.asB(),
          ),
      ],
    ];
    for (const [name, p] of calls) expect(await failure(p()), name).toMatchObject({ code: status.NOT_FOUND });

    expect(await call(api.customers, "getCustomer", { customerId: cus }, api.asA())).toEqual(before);
    expect(
      await call(api.financialAccounts, "getFinancialAccount", { financialAccountId: fa }, api.asA()),
    ).toEqual(faBefore);
    expect(
      (await call(api.financialAccounts, "listFinancialAccounts", { customerId: cus }, api.asA()))
        .financialAccounts,
    ).toHaveLength(1);
  });

  it("a parent acts for its child's customers with linkflow-business-id; its own scope does not include them", async () => {
    const child = (
      await call(api.businesses, "createChildBusiness", { name: "Acme East", idempotencyKey: "" }, api.asA())
    ).business!;
    const cus = await customer("child-1", api.asA(child.id));
    expect(
      (await call(api.customers, "getCustomer", { customerId: cus }, api.asA(child.id))).customer?.id,
    ).toBe(cus);
    const suspended = await call(
      api.customers,
      "setCustomerStatus",
      {
        customerId: cus,
        status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
        reason: "kyc",
        idempotencyKey: "",
      },
      api.asA(child.id),
    );
    expect(suspended.customer?.status).toBe(CustomerStatus.CUSTOMER_STATUS_SUSPENDED);
    expect(await failure(call(api.customers, "getCustomer", { customerId: cus }, api.asB()))).toMatchObject({
      code: status.NOT_FOUND,
    });
  });
});

describe("CustomerService and FinancialAccountService: idempotency keys", () => {
  it("CreateCustomer: one customer per key and business; another business's same key is its own", async () => {
    const req = {
      profile: person({ firstName: "Dorothy" }),
      externalId: "idem-1",
      idempotencyKey: "cus-idem-1",
    };
    const made = await expectIdempotent(
      () => call(api.customers, "createCustomer", req, api.asA()),
      () => call(api.customers, "createCustomer", { ...req, externalId: "idem-2" }, api.asA()),
    );
    const listed = await call(api.customers, "listCustomers", { page: undefined, status: 0 }, api.asA());
    expect(listed.customers.filter((c) => c.externalId === "idem-1").map((c) => c.id)).toEqual([
      made.customer!.id,
    ]);
    const theirs = await call(api.customers, "createCustomer", req, api.asB());
    expect(theirs.customer!.id).not.toBe(made.customer!.id);
    expect(
      await failure(call(api.customers, "getCustomer", { customerId: made.customer!.id }, api.asB())),
    ).toMatchObject({ code: status.NOT_FOUND });
  });

  it("UpdateCustomer, SetCustomerStatus, DisconnectFinancialData and DeleteCustomer act once per key", async () => {
    const cus = await customer("idem-upd");
    const other = await customer("idem-upd-other");
    const upd = {
      customerId: cus,
      profile: person({ firstName: "Kate" }),
      externalId: "idem-upd",
      idempotencyKey: "upd-key-1",
    };
    const updated = await expectIdempotent(
      () => call(api.customers, "updateCustomer", upd, api.asA()),
      () =>
        call(api.customers, "updateCustomer", { ...upd, profile: person({ firstName: "Katy" }) }, api.asA()),
    );
    expect(updated.customer?.profile).toMatchObject({ value: { firstName: "Kate" } });

    const st = {
      customerId: cus,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: "review",
      idempotencyKey: "status-key-1",
    };
    await expectIdempotent(
      () => call(api.customers, "setCustomerStatus", st, api.asA()),
      () => call(api.customers, "setCustomerStatus", { ...st, reason: "fraud" }, api.asA()),
    );

    await account(cus);
    const disc = { customerId: cus, idempotencyKey: "disc-key-1" };
    const d = await expectIdempotent(
      () => call(api.customers, "disconnectFinancialData", disc, api.asA()),
      () => call(api.customers, "disconnectFinancialData", { ...disc, customerId: other }, api.asA()),
    );
    // The replay reports the first call's count, not a second (empty) disconnection.
    expect(d.disconnected).toBe(1);

    const del = { customerId: cus, idempotencyKey: "del-key-1" };
    await expectIdempotent(
      () => call(api.customers, "deleteCustomer", del, api.asA()),
      () => call(api.customers, "deleteCustomer", { ...del, customerId: other }, api.asA()),
    );
    expect(await failure(call(api.customers, "getCustomer", { customerId: cus }, api.asA()))).toMatchObject({
      code: status.NOT_FOUND,
    });
    expect((await call(api.customers, "getCustomer", { customerId: other }, api.asA())).customer?.id).toBe(
      other,
    );
  });

  it("AddFinancialAccount, SetFinancialAccountStatus and SetDefaultFinancialAccount act once per key", async () => {
    const cus = await customer("idem-fa");
    const add = bank({ customerId: cus, idempotencyKey: "fa-add-key-1" });
    const fa = await expectIdempotent(
      () => call(api.financialAccounts, "addFinancialAccount", add, api.asA()),
      () => call(api.financialAccounts, "addFinancialAccount", { ...add, name: "Savings" }, api.asA()),
    );
    const listed = await call(api.financialAccounts, "listFinancialAccounts", { customerId: cus }, api.asA());
    expect(listed.financialAccounts.map((a) => a.id)).toEqual([fa.financialAccount!.id]);

    const second = await account(cus, "Second");
    const st = {
      financialAccountId: second,
      status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED,
      reason: "closed",
      idempotencyKey: "fa-status-key-1",
    };
    await expectIdempotent(
      () => call(api.financialAccounts, "setFinancialAccountStatus", st, api.asA()),
      () => call(api.financialAccounts, "setFinancialAccountStatus", { ...st, reason: "other" }, api.asA()),
    );

    const def = { financialAccountId: fa.financialAccount!.id, idempotencyKey: "fa-default-key-1" };
    const made = await expectIdempotent(
      () => call(api.financialAccounts, "setDefaultFinancialAccount", def, api.asA()),
      () =>
        call(
          api.financialAccounts,
          "setDefaultFinancialAccount",
          { ...def, financialAccountId: second },
          api.asA(),
        ),
    );
    expect(made.financialAccount?.isDefault).toBe(true);
  });
});

describe("CustomerService and FinancialAccountService: bad input", () => {
  it("names every invalid field of every call", async () => {
    const cus = await customer("bad-1");
    const fa = await account(cus);
    const create = { profile: person(), externalId: "", idempotencyKey: "" };
    const update = { customerId: cus, profile: person(), externalId: "", idempotencyKey: "" };
    const setStatus = {
      customerId: cus,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: "r",
      idempotencyKey: "",
    };
    const faStatus = {
      financialAccountId: fa,
      status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED,
      reason: "r",
      idempotencyKey: "",
    };
    const card = (number: string, expiry = "12/99") =>
      bank({
        customerId: cus,
        details: { $case: "card", value: { number, expiry, cardType: CardType.CARD_TYPE_DEBIT } },
      });
    const bankWith = (over: Partial<BankAccountInput>) =>
      bank({
        customerId: cus,
        details: {
          $case: "bankAccount",
          value: {
            routingNumber: "011000015",
            accountNumber: "000123456789",
            accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
            nameOnAccount: "Katherine Johnson",
            ...over,
          },
        },
      });
    const c = api.customers;
    const f = api.financialAccounts;
    const as = api.asA();
    await expectViolations([
      // CreateCustomer
      [() => call(c, "createCustomer", { ...create, profile: undefined }, as), "profile"],
      [
        () => call(c, "createCustomer", { ...create, profile: person({ firstName: "" }) }, as),
        "individual.first_name",
      ],
      [
        () => call(c, "createCustomer", { ...create, profile: person({ lastName: "" }) }, as),
        "individual.last_name",
      ],
      [
        () => call(c, "createCustomer", { ...create, profile: person({ email: "not-an-email" }) }, as),
        "individual.email",
      ],
      [
        () => call(c, "createCustomer", { ...create, profile: person({ phone: "555" }) }, as),
        "individual.phone",
      ],
      [() => call(c, "createCustomer", { ...create, externalId: "e".repeat(101) }, as), "external_id"],
      [() => call(c, "createCustomer", { ...create, idempotencyKey: "short" }, as), "idempotency_key"],
      // GetCustomer, ListCustomers
      [() => call(c, "getCustomer", { customerId: "" }, as), "customer_id"],
      [() => call(c, "getCustomer", { customerId: "cus_NOPE!" }, as), "customer_id"],
      [
        () => call(c, "listCustomers", { page: { pageSize: -1, pageToken: "" }, status: 0 }, as),
        "page.page_size",
      ],
      [
        () => call(c, "listCustomers", { page: { pageSize: 0, pageToken: "garbage" }, status: 0 }, as),
        "page.page_token",
      ],
      [() => call(c, "listCustomers", { page: undefined, status: 99 as CustomerStatus }, as), "status"],
      // UpdateCustomer
      [() => call(c, "updateCustomer", { ...update, customerId: "x" }, as), "customer_id"],
      [
        () => call(c, "updateCustomer", { ...update, profile: person({ email: "@" }) }, as),
        "individual.email",
      ],
      [() => call(c, "updateCustomer", { ...update, externalId: "e".repeat(101) }, as), "external_id"],
      [() => call(c, "updateCustomer", { ...update, idempotencyKey: "a b c d e" }, as), "idempotency_key"],
      // SetCustomerStatus
      [() => call(c, "setCustomerStatus", { ...setStatus, customerId: "" }, as), "customer_id"],
      [() => call(c, "setCustomerStatus", { ...setStatus, status: 0 }, as), "status"],
      [() => call(c, "setCustomerStatus", { ...setStatus, reason: "r".repeat(501) }, as), "reason"],
      [() => call(c, "setCustomerStatus", { ...setStatus, idempotencyKey: "k" }, as), "idempotency_key"],
      // DeleteCustomer, DisconnectFinancialData
      [() => call(c, "deleteCustomer", { customerId: "", idempotencyKey: "" }, as), "customer_id"],
      [() => call(c, "deleteCustomer", { customerId: cus, idempotencyKey: "no" }, as), "idempotency_key"],
      [() => call(c, "disconnectFinancialData", { customerId: "c", idempotencyKey: "" }, as), "customer_id"],
      [
        () => call(c, "disconnectFinancialData", { customerId: cus, idempotencyKey: "no" }, as),
        "idempotency_key",
      ],
      // AddFinancialAccount
      [() => call(f, "addFinancialAccount", bank({ customerId: "" }), as), "customer_id"],
      [() => call(f, "addFinancialAccount", bank({ customerId: cus, name: "n".repeat(101) }), as), "name"],
      [() => call(f, "addFinancialAccount", bank({ customerId: cus, source: 0 }), as), "source"],
      [
        () => call(f, "addFinancialAccount", bank({ customerId: cus, providerAccountId: "acc-1" }), as),
        "provider_account_id",
      ],
      [() => call(f, "addFinancialAccount", bank({ customerId: cus, details: undefined }), as), "details"],
      [
        () => call(f, "addFinancialAccount", bankWith({ routingNumber: "123456789" }), as),
        "bank_account.routing_number",
      ],
      [
        () => call(f, "addFinancialAccount", bankWith({ accountNumber: "12ab" }), as),
        "bank_account.account_number",
      ],
      [() => call(f, "addFinancialAccount", bankWith({ accountType: 0 }), as), "bank_account.account_type"],
      [
        () => call(f, "addFinancialAccount", bankWith({ nameOnAccount: "" }), as),
        "bank_account.name_on_account",
      ],
      [() => call(f, "addFinancialAccount", card("4111111111111112"), as), "card.number"],
      [() => call(f, "addFinancialAccount", card("4111111111111111", "13/30"), as), "card.expiry"],
      [
        () => call(f, "addFinancialAccount", bank({ customerId: cus, idempotencyKey: "k" }), as),
        "idempotency_key",
      ],
      // GetFinancialAccount, ListFinancialAccounts
      [() => call(f, "getFinancialAccount", { financialAccountId: "" }, as), "financial_account_id"],
      [() => call(f, "getFinancialAccount", { financialAccountId: "fa_X" }, as), "financial_account_id"],
      [() => call(f, "listFinancialAccounts", { customerId: "" }, as), "customer_id"],
      // SetFinancialAccountStatus, SetDefaultFinancialAccount
      [
        () => call(f, "setFinancialAccountStatus", { ...faStatus, financialAccountId: "" }, as),
        "financial_account_id",
      ],
      [() => call(f, "setFinancialAccountStatus", { ...faStatus, status: 0 }, as), "status"],
      [() => call(f, "setFinancialAccountStatus", { ...faStatus, reason: "r".repeat(501) }, as), "reason"],
      [
        () => call(f, "setFinancialAccountStatus", { ...faStatus, idempotencyKey: "k" }, as),
        "idempotency_key",
      ],
      [
        () => call(f, "setDefaultFinancialAccount", { financialAccountId: "f", idempotencyKey: "" }, as),
        "financial_account_id",
      ],
      [
        () => call(f, "setDefaultFinancialAccount", { financialAccountId: fa, idempotencyKey: "k" }, as),
        "idempotency_key",
      ],
    ]);
    // None of it changed the customer or its account.
    expect((await call(c, "getCustomer", { customerId: cus }, as)).customer?.status).toBe(
      CustomerStatus.CUSTOMER_STATUS_ACTIVE,
    );
    expect((await call(f, "listFinancialAccounts", { customerId: cus }, as)).financialAccounts).toHaveLength(
      1,
    );
  });
});
