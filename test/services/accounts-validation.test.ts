import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccountsServiceService,
  type AddFinancialAccountRequest,
  type Address,
  AddressKind,
  BankAccountType,
  type BusinessProfile,
  CardType,
  type Contact,
  type CreateCustomerRequest,
  CustomerStatus,
  FinancialAccountSource,
  FinancialAccountStatus,
  type IndividualProfile,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { type Refusal, uncoveredFields } from "./field-coverage.ts";
import { expectViolations, rejected } from "./helpers.ts";
import { type AccountsStack, person, startAccounts } from "./stack.ts";

let env: AccountsStack;
let biz = "";
let cus = "";
let fa = "";
/** Every refusal the tables below expect, to check that they try every field of every RPC. */
const refusals: Refusal[] = [];

beforeAll(async () => {
  env = await startAccounts();
  biz = await env.business();
  cus = await env.customer(biz);
  fa = await env.bank(biz, cus, "000555666777");
});

afterAll(async () => {
  await env?.close();
});

const address = (over: Partial<Address> = {}): Address => ({
  kind: AddressKind.ADDRESS_KIND_MAILING,
  line1: "1 Main St",
  line2: "Suite 2",
  city: "Springfield",
  region: "IL",
  postalCode: "62701",
  country: "US",
  ...over,
});
const contact = (over: Partial<Contact> = {}): Contact => ({
  firstName: "Bo",
  lastName: "Smith",
  email: "bo@widgets.test",
  phone: "+442071234567",
  ...over,
});
const company = (over: Partial<BusinessProfile> = {}): BusinessProfile => ({
  dbaName: "Widgets LLC",
  primaryContact: contact(),
  contacts: [contact({ firstName: "Cy", email: "cy@widgets.test" })],
  addresses: [address()],
  ...over,
});
const asBusiness = (p: BusinessProfile): CreateCustomerRequest["profile"] => ({
  $case: "business",
  value: p,
});
const asPerson = (p: IndividualProfile): CreateCustomerRequest["profile"] => ({
  $case: "individual",
  value: p,
});
const createCustomer = (over: Partial<CreateCustomerRequest>) =>
  call(env.client, "createCustomer", {
    businessId: biz,
    idempotencyKey: "",
    externalId: "",
    profile: asBusiness(company()),
    ...over,
  });

const x = (n: number) => "x".repeat(n);
const customersOf = async (businessId: string) =>
  Number(
    (await env.sql`select count(*)::int as n from accounts.customers where business_id = ${businessId}`)[0]
      ?.n,
  );

/** Every bad value of one address, under the given field path. */
function addressRows(prefix: string, wrap: (a: Address) => CreateCustomerRequest["profile"]) {
  const rows: [string, CreateCustomerRequest["profile"], string][] = [
    ["empty line1", wrap(address({ line1: "" })), `${prefix}.line1`],
    ["blank line1", wrap(address({ line1: "   " })), `${prefix}.line1`],
    ["line1 over 200", wrap(address({ line1: x(201) })), `${prefix}.line1`],
    ["line2 over 200", wrap(address({ line2: x(201) })), `${prefix}.line2`],
    ["empty city", wrap(address({ city: "" })), `${prefix}.city`],
    ["city over 100", wrap(address({ city: x(101) })), `${prefix}.city`],
    ["region over 100", wrap(address({ region: x(101) })), `${prefix}.region`],
    ["postal code over 20", wrap(address({ postalCode: x(21) })), `${prefix}.postal_code`],
    ["empty country", wrap(address({ country: "" })), `${prefix}.country`],
    ["three-letter country", wrap(address({ country: "USA" })), `${prefix}.country`],
    ["lower-case country", wrap(address({ country: "us" })), `${prefix}.country`],
    ["country with a digit", wrap(address({ country: "U1" })), `${prefix}.country`],
    ["unknown address kind", wrap(address({ kind: 77 as AddressKind })), `${prefix}.kind`],
  ];
  return rows;
}

describe("CreateCustomer: a business profile, field by field", () => {
  const rows: [string, CreateCustomerRequest["profile"], string][] = [
    ["empty DBA name", asBusiness(company({ dbaName: "" })), "business.dba_name"],
    ["blank DBA name", asBusiness(company({ dbaName: "  " })), "business.dba_name"],
    ["DBA name over 200", asBusiness(company({ dbaName: x(201) })), "business.dba_name"],
    ["no primary contact", asBusiness(company({ primaryContact: undefined })), "business.primary_contact"],
    [
      "primary contact without a first name",
      asBusiness(company({ primaryContact: contact({ firstName: "" }) })),
      "business.primary_contact.first_name",
    ],
    [
      "primary contact first name over 100",
      asBusiness(company({ primaryContact: contact({ firstName: x(101) }) })),
      "business.primary_contact.first_name",
    ],
    [
      "primary contact without a last name",
      asBusiness(company({ primaryContact: contact({ lastName: " " }) })),
      "business.primary_contact.last_name",
    ],
    [
      "primary contact without an email",
      asBusiness(company({ primaryContact: contact({ email: "" }) })),
      "business.primary_contact.email",
    ],
    [
      "primary contact email without a domain",
      asBusiness(company({ primaryContact: contact({ email: "bo@" }) })),
      "business.primary_contact.email",
    ],
    [
      "primary contact email with a space",
      asBusiness(company({ primaryContact: contact({ email: "bo smith@widgets.test" }) })),
      "business.primary_contact.email",
    ],
    [
      "primary contact without a phone",
      asBusiness(company({ primaryContact: contact({ phone: "" }) })),
      "business.primary_contact.phone",
    ],
    [
      "primary contact phone not E.164",
      asBusiness(company({ primaryContact: contact({ phone: "555-1234" }) })),
      "business.primary_contact.phone",
    ],
    [
      "primary contact phone with a leading zero",
      asBusiness(company({ primaryContact: contact({ phone: "+0123456789" }) })),
      "business.primary_contact.phone",
    ],
    [
      "second contact without a first name",
      asBusiness(company({ contacts: [contact(), contact({ firstName: "" })] })),
      "business.contacts[1].first_name",
    ],
    [
      "contact with a bad email",
      asBusiness(company({ contacts: [contact({ email: "nope" })] })),
      "business.contacts[0].email",
    ],
    [
      "contact with a bad phone",
      asBusiness(company({ contacts: [contact({ phone: "12" })] })),
      "business.contacts[0].phone",
    ],
    [
      "more than 20 contacts",
      asBusiness(company({ contacts: Array.from({ length: 21 }, () => contact()) })),
      "business.contacts",
    ],
    [
      "more than 10 addresses",
      asBusiness(company({ addresses: Array.from({ length: 11 }, () => address()) })),
      "business.addresses",
    ],
    ...addressRows("business.addresses[1]", (a) => asBusiness(company({ addresses: [address(), a] }))),
  ];
  refusals.push(...rows.map(([, , field]) => ({ method: "createCustomer", fields: [field] })));
  it.each(rows)("%s → %s", async (label, profile, field) => {
    const before = await customersOf(biz);
    await expectViolations(createCustomer({ profile }), [field], label);
    expect(await customersOf(biz)).toBe(before);
  });

  it("accepts the valid profile the rows start from", async () => {
    const res = await createCustomer({});
    expect(res.customer?.profile).toEqual(asBusiness(company()));
  });
});

describe("CreateCustomer: an individual profile and the request, field by field", () => {
  const rows: [string, Partial<CreateCustomerRequest>, string][] = [
    ["empty first name", { profile: asPerson(person({ firstName: "" })) }, "individual.first_name"],
    ["first name over 100", { profile: asPerson(person({ firstName: x(101) })) }, "individual.first_name"],
    ["blank last name", { profile: asPerson(person({ lastName: "\t" })) }, "individual.last_name"],
    ["bad email", { profile: asPerson(person({ email: "ada.example.com" })) }, "individual.email"],
    ["email over 254", { profile: asPerson(person({ email: `${x(250)}@example.com` })) }, "individual.email"],
    ["neither email nor phone", { profile: asPerson(person({ email: "", phone: "" })) }, "individual.email"],
    ["phone without a plus", { profile: asPerson(person({ phone: "15551234567" })) }, "individual.phone"],
    ["phone too long", { profile: asPerson(person({ phone: "+1555123456789012" })) }, "individual.phone"],
    [
      "more than 10 addresses",
      { profile: asPerson(person({ addresses: Array.from({ length: 11 }, () => address()) })) },
      "individual.addresses",
    ],
    ...addressRows("individual.addresses[0]", (a) => asPerson(person({ addresses: [a] }))).map(
      ([label, profile, field]) =>
        [label, { profile }, field] as [string, Partial<CreateCustomerRequest>, string],
    ),
    ["no profile", { profile: undefined }, "profile"],
    ["empty business id", { businessId: "" }, "business_id"],
    ["business id of another kind", { businessId: "cus_1" }, "business_id"],
    ["external id over 100", { externalId: x(101) }, "external_id"],
    ["5-character idempotency key", { idempotencyKey: "abcde" }, "idempotency_key"],
    ["256-character idempotency key", { idempotencyKey: x(256) }, "idempotency_key"],
  ];
  refusals.push(...rows.map(([, , field]) => ({ method: "createCustomer", fields: [field] })));
  it.each(rows)("%s → %s", async (label, over, field) => {
    await expectViolations(createCustomer({ profile: asPerson(person()), ...over }), [field], label);
  });
});

type Row = [string, string, () => object, string[]];

/** A valid UpdateCustomer request for the suite's customer. */
const update = () => ({
  businessId: biz,
  customerId: cus,
  externalId: "",
  idempotencyKey: "",
  profile: asPerson(person()),
});

describe("the other accounts RPCs, field by field", () => {
  const rows: Row[] = [
    [
      "CreateBusiness: empty name",
      "createBusiness",
      () => ({ name: "", parentBusinessId: "", idempotencyKey: "" }),
      ["name"],
    ],
    [
      "CreateBusiness: blank name",
      "createBusiness",
      () => ({ name: "  ", parentBusinessId: "", idempotencyKey: "" }),
      ["name"],
    ],
    [
      "CreateBusiness: name over 200",
      "createBusiness",
      () => ({ name: x(201), parentBusinessId: "", idempotencyKey: "" }),
      ["name"],
    ],
    [
      "CreateBusiness (child): parent id of another kind",
      "createBusiness",
      () => ({ name: "Child", parentBusinessId: "cus_1", idempotencyKey: "" }),
      ["parent_business_id"],
    ],
    [
      "CreateBusiness (child): over-long parent id",
      "createBusiness",
      () => ({ name: "Child", parentBusinessId: `biz_${x(70)}`, idempotencyKey: "" }),
      ["parent_business_id"],
    ],
    [
      "CreateBusiness: idempotency key with a space",
      "createBusiness",
      () => ({ name: "Acme", parentBusinessId: "", idempotencyKey: "two words" }),
      ["idempotency_key"],
    ],
    ["GetBusiness: empty id", "getBusiness", () => ({ businessId: "" }), ["business_id"]],
    ["GetBusiness: id of another kind", "getBusiness", () => ({ businessId: "cus_1" }), ["business_id"]],
    [
      "CreateApiKey: empty business id",
      "createApiKey",
      () => ({ businessId: "", name: "server", idempotencyKey: "" }),
      ["business_id"],
    ],
    [
      "CreateApiKey: empty name",
      "createApiKey",
      () => ({ businessId: biz, name: "", idempotencyKey: "" }),
      ["name"],
    ],
    [
      "CreateApiKey: name over 100",
      "createApiKey",
      () => ({ businessId: biz, name: x(101), idempotencyKey: "" }),
      ["name"],
    ],
    [
      "CreateApiKey: 5-character idempotency key",
      "createApiKey",
      () => ({ businessId: biz, name: "server", idempotencyKey: "abcde" }),
      ["idempotency_key"],
    ],
    [
      "RevokeApiKey: empty ids",
      "revokeApiKey",
      () => ({ businessId: "", keyId: "" }),
      ["business_id", "key_id"],
    ],
    [
      "RevokeApiKey: key id of another kind",
      "revokeApiKey",
      () => ({ businessId: biz, keyId: "biz_1" }),
      ["key_id"],
    ],
    [
      "ListApiKeys: business id of another kind",
      "listApiKeys",
      () => ({ businessId: "key_1" }),
      ["business_id"],
    ],
    [
      "GetCustomer: empty ids",
      "getCustomer",
      () => ({ businessId: "", customerId: "" }),
      ["business_id", "customer_id"],
    ],
    [
      "UpdateCustomer: customer id of another kind, bad email",
      "updateCustomer",
      () => ({
        businessId: biz,
        customerId: "fa_1",
        externalId: "",
        idempotencyKey: "",
        profile: asPerson(person({ email: "x" })),
      }),
      ["customer_id", "individual.email"],
    ],
    [
      "UpdateCustomer: empty business id",
      "updateCustomer",
      () => ({ ...update(), businessId: "" }),
      ["business_id"],
    ],
    [
      "UpdateCustomer: no profile",
      "updateCustomer",
      () => ({ ...update(), profile: undefined }),
      ["profile"],
    ],
    [
      "UpdateCustomer: external id over 100",
      "updateCustomer",
      () => ({ ...update(), externalId: x(101) }),
      ["external_id"],
    ],
    [
      "UpdateCustomer: 5-character idempotency key",
      "updateCustomer",
      () => ({ ...update(), idempotencyKey: "abcde" }),
      ["idempotency_key"],
    ],
    [
      "SetCustomerStatus: business id of another kind",
      "setCustomerStatus",
      () => ({ businessId: "fa_1", customerId: cus, status: 1, reason: "", idempotencyKey: "" }),
      ["business_id"],
    ],
    [
      "SetCustomerStatus: empty customer id",
      "setCustomerStatus",
      () => ({ businessId: biz, customerId: "", status: 1, reason: "", idempotencyKey: "" }),
      ["customer_id"],
    ],
    [
      "SetCustomerStatus: 256-character idempotency key",
      "setCustomerStatus",
      () => ({ businessId: biz, customerId: cus, status: 1, reason: "", idempotencyKey: x(256) }),
      ["idempotency_key"],
    ],
    [
      "DeleteCustomer: idempotency key with a space",
      "deleteCustomer",
      () => ({ businessId: biz, customerId: cus, idempotencyKey: "two words" }),
      ["idempotency_key"],
    ],
    [
      "UpdateCustomer: address without a city",
      "updateCustomer",
      () => ({
        businessId: biz,
        customerId: cus,
        externalId: "",
        idempotencyKey: "",
        profile: asBusiness(company({ addresses: [address({ city: "" })] })),
      }),
      ["business.addresses[0].city"],
    ],
    [
      "SetCustomerStatus: unspecified status",
      "setCustomerStatus",
      () => ({ businessId: biz, customerId: cus, status: 0, reason: "x", idempotencyKey: "" }),
      ["status"],
    ],
    [
      "SetCustomerStatus: unknown status",
      "setCustomerStatus",
      () => ({ businessId: biz, customerId: cus, status: 9, reason: "x", idempotencyKey: "" }),
      ["status"],
    ],
    [
      "SetCustomerStatus: suspending without a reason",
      "setCustomerStatus",
      () => ({
        businessId: biz,
        customerId: cus,
        status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
        reason: "",
        idempotencyKey: "",
      }),
      ["reason"],
    ],
    [
      "SetCustomerStatus: reason over 500",
      "setCustomerStatus",
      () => ({
        businessId: biz,
        customerId: cus,
        status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
        reason: x(501),
        idempotencyKey: "",
      }),
      ["reason"],
    ],
    [
      "DeleteCustomer: empty ids",
      "deleteCustomer",
      () => ({ businessId: "", customerId: "", idempotencyKey: "" }),
      ["business_id", "customer_id"],
    ],
    [
      "ListCustomers: empty business id",
      "listCustomers",
      () => ({ businessId: "", status: 0 }),
      ["business_id"],
    ],
    [
      "ListCustomers: negative page size",
      "listCustomers",
      () => ({ businessId: biz, status: 0, page: { pageSize: -1, pageToken: "" } }),
      ["page.page_size"],
    ],
    [
      "ListCustomers: page size over 500",
      "listCustomers",
      () => ({ businessId: biz, status: 0, page: { pageSize: 501, pageToken: "" } }),
      ["page.page_size"],
    ],
    [
      "ListCustomers: page token of another list",
      "listCustomers",
      () => ({ businessId: biz, status: 0, page: { pageSize: 10, pageToken: "txn_1" } }),
      ["page.page_token"],
    ],
    [
      "ListCustomers: garbage page token",
      "listCustomers",
      () => ({ businessId: biz, status: 0, page: { pageSize: 10, pageToken: "cus_' or 1=1 --" } }),
      ["page.page_token"],
    ],
    [
      "ListCustomers: unknown status filter",
      "listCustomers",
      () => ({ businessId: biz, status: 7 }),
      ["status"],
    ],
  ];
  refusals.push(...rows.map(([, method, , fields]) => ({ method, fields })));
  it.each(rows)("%s", async (label, method, request, fields) => {
    await expectViolations(call(env.client, method as "getBusiness", request() as never), fields, label);
  });

  it("answers UNAUTHENTICATED, not a field violation, to a malformed or empty API key", async () => {
    for (const apiKey of ["", "lf_test_short", "lf_prod_0123456789abcdef0123"]) {
      const err = await rejected(call(env.client, "authenticateApiKey", { apiKey }));
      expect(err.code, apiKey).toBe(status.UNAUTHENTICATED);
    }
  });

  it("pages customers with the largest page size and the returned token", async () => {
    const b = await env.business();
    const ids = [await env.customer(b), await env.customer(b), await env.customer(b)];
    const first = await call(env.client, "listCustomers", {
      businessId: b,
      status: 0,
      page: { pageSize: 2, pageToken: "" },
    });
    const rest = await call(env.client, "listCustomers", {
      businessId: b,
      status: 0,
      page: { pageSize: 500, pageToken: first.nextPageToken },
    });
    expect([...first.customers, ...rest.customers].map((c) => c.id)).toEqual([...ids].reverse());
    expect(rest.nextPageToken).toBe("");
  });
});

/** One bad value of one field: the request is the method's valid base with `change` applied. */
type FieldRow = [method: string, label: string, change: () => Record<string, unknown>, field: string];

const bankInput = (over: Record<string, unknown> = {}) => ({
  details: {
    $case: "bankAccount",
    value: {
      routingNumber: "011000015",
      accountNumber: "000123456789",
      accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
      nameOnAccount: "Ada Lovelace",
      ...over,
    },
  } as AddFinancialAccountRequest["details"],
});
const cardInput = (over: Record<string, unknown> = {}) => ({
  details: {
    $case: "card",
    value: { number: "4000056655665556", expiry: "12/29", cardType: CardType.CARD_TYPE_DEBIT, ...over },
  } as AddFinancialAccountRequest["details"],
});

/** Document `i` of the valid RecordDocumentAcceptances request. */
const docAt = (i: number) =>
  (financialBase.recordDocumentAcceptances!() as { documents: Record<string, unknown>[] }).documents[i]!;

const financialBase: Record<string, () => Record<string, unknown>> = {
  addFinancialAccount: () => ({
    businessId: biz,
    customerId: cus,
    idempotencyKey: "",
    name: "Checking",
    source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
    providerAccountId: "",
    makeDefault: false,
    ...bankInput(),
  }),
  getFinancialAccount: () => ({ businessId: biz, financialAccountId: fa }),
  listFinancialAccounts: () => ({ businessId: biz, customerId: cus }),
  setFinancialAccountStatus: () => ({
    businessId: biz,
    financialAccountId: fa,
    status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED,
    reason: "card lost",
    idempotencyKey: "",
  }),
  setDefaultFinancialAccount: () => ({ businessId: biz, financialAccountId: fa }),
  disconnectFinancialData: () => ({ businessId: biz, customerId: cus, idempotencyKey: "" }),
  checkTransactable: () => ({ businessId: biz, customerId: cus, financialAccountId: fa }),
  recordDocumentAcceptance: () => ({
    businessId: biz,
    customerId: cus,
    documentId: "terms-of-service",
    version: "2024-03",
    contentHash: `sha256:${"ab".repeat(32)}`,
    scope: "ach_debit_authorization",
    acceptedAt: new Date(env.clock.now() - 60_000),
    ip: "2001:db8::1",
    userAgent: "Mozilla/5.0",
    idempotencyKey: "",
    workflowId: "wf_1",
  }),
  recordDocumentAcceptances: () => ({
    businessId: biz,
    customerId: cus,
    documents: [
      {
        documentId: "terms-of-service",
        version: "2024-03",
        contentHash: `sha256:${"ab".repeat(32)}`,
        scope: "",
      },
      {
        documentId: "ach-authorization",
        version: "1",
        contentHash: `sha256:${"cd".repeat(32)}`,
        scope: "ach_debit_authorization",
      },
    ],
    acceptedAt: new Date(env.clock.now() - 60_000),
    ip: "198.51.100.7",
    userAgent: "Mozilla/5.0",
    idempotencyKey: "",
    workflowId: "wf_1",
  }),
  listDocumentAcceptances: () => ({ businessId: biz, customerId: cus, documentId: "terms-of-service" }),
  appendEnhancedPii: () => ({
    businessId: biz,
    customerId: cus,
    dateOfBirth: "1984-07-19",
    taxId: "123-45-6789",
    identityDocument: { type: "passport", number: "X9Q4417726", country: "GB" },
    idempotencyKey: "",
  }),
};

/** The id fields, refused the same way on every RPC that has them. */
const idRows: FieldRow[] = Object.entries({
  addFinancialAccount: ["business_id", "customer_id"],
  getFinancialAccount: ["business_id", "financial_account_id"],
  listFinancialAccounts: ["business_id", "customer_id"],
  setFinancialAccountStatus: ["business_id", "financial_account_id"],
  setDefaultFinancialAccount: ["business_id", "financial_account_id"],
  disconnectFinancialData: ["business_id", "customer_id"],
  checkTransactable: ["business_id", "customer_id", "financial_account_id"],
  recordDocumentAcceptance: ["business_id", "customer_id"],
  recordDocumentAcceptances: ["business_id", "customer_id"],
  listDocumentAcceptances: ["business_id", "customer_id"],
  appendEnhancedPii: ["business_id", "customer_id"],
}).flatMap(([method, fields]) =>
  fields.flatMap((field): FieldRow[] => {
    const key = field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
    const other = field === "business_id" ? "cus_1" : "biz_1";
    return [
      [method, `empty ${field}`, () => ({ [key]: "" }), field],
      [method, `${field} of another kind`, () => ({ [key]: other }), field],
    ];
  }),
);

/** Mutations: idempotency keys of 6 to 255 characters without spaces. */
const keyRows: FieldRow[] = [
  "addFinancialAccount",
  "setFinancialAccountStatus",
  "disconnectFinancialData",
  "recordDocumentAcceptance",
  "recordDocumentAcceptances",
  "appendEnhancedPii",
].flatMap((method): FieldRow[] => [
  [method, "5-character idempotency key", () => ({ idempotencyKey: "abcde" }), "idempotency_key"],
  [method, "256-character idempotency key", () => ({ idempotencyKey: x(256) }), "idempotency_key"],
]);

const PLAID = FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_PLAID;
const financialRows: FieldRow[] = [
  ...idRows,
  ...keyRows,
  ["addFinancialAccount", "name over 100", () => ({ name: x(101) }), "name"],
  ["addFinancialAccount", "unspecified source", () => ({ source: 0 }), "source"],
  ["addFinancialAccount", "unknown source", () => ({ source: 9 }), "source"],
  [
    "addFinancialAccount",
    "provider id on a manual account",
    () => ({ providerAccountId: "p" }),
    "provider_account_id",
  ],
  [
    "addFinancialAccount",
    "bank-link source without a provider id",
    () => ({ source: PLAID }),
    "provider_account_id",
  ],
  [
    "addFinancialAccount",
    "provider id over 200",
    () => ({ source: PLAID, providerAccountId: x(201) }),
    "provider_account_id",
  ],
  ["addFinancialAccount", "neither bank account nor card", () => ({ details: undefined }), "details"],
  [
    "addFinancialAccount",
    "routing number failing the ABA checksum",
    () => bankInput({ routingNumber: "011000016" }),
    "bank_account.routing_number",
  ],
  [
    "addFinancialAccount",
    "8-digit routing number",
    () => bankInput({ routingNumber: "01100001" }),
    "bank_account.routing_number",
  ],
  [
    "addFinancialAccount",
    "empty routing number",
    () => bankInput({ routingNumber: "" }),
    "bank_account.routing_number",
  ],
  [
    "addFinancialAccount",
    "3-digit account number",
    () => bankInput({ accountNumber: "123" }),
    "bank_account.account_number",
  ],
  [
    "addFinancialAccount",
    "18-digit account number",
    () => bankInput({ accountNumber: "1".repeat(18) }),
    "bank_account.account_number",
  ],
  [
    "addFinancialAccount",
    "account number with a letter",
    () => bankInput({ accountNumber: "12a45678" }),
    "bank_account.account_number",
  ],
  [
    "addFinancialAccount",
    "unspecified account type",
    () => bankInput({ accountType: 0 }),
    "bank_account.account_type",
  ],
  [
    "addFinancialAccount",
    "unknown account type",
    () => bankInput({ accountType: 9 }),
    "bank_account.account_type",
  ],
  [
    "addFinancialAccount",
    "empty name on account",
    () => bankInput({ nameOnAccount: "" }),
    "bank_account.name_on_account",
  ],
  [
    "addFinancialAccount",
    "name on account over 100",
    () => bankInput({ nameOnAccount: x(101) }),
    "bank_account.name_on_account",
  ],
  [
    "addFinancialAccount",
    "card number failing the Luhn check",
    () => cardInput({ number: "4000056655665557" }),
    "card.number",
  ],
  ["addFinancialAccount", "11-digit card number", () => cardInput({ number: "42424242426" }), "card.number"],
  [
    "addFinancialAccount",
    "card number with letters",
    () => cardInput({ number: "4000 0566 5566 555X" }),
    "card.number",
  ],
  ["addFinancialAccount", "expired card", () => cardInput({ expiry: "05/25" }), "card.expiry"],
  ["addFinancialAccount", "month 13", () => cardInput({ expiry: "13/30" }), "card.expiry"],
  ["addFinancialAccount", "expiry without a slash", () => cardInput({ expiry: "1229" }), "card.expiry"],
  ["addFinancialAccount", "empty expiry", () => cardInput({ expiry: "" }), "card.expiry"],
  ["addFinancialAccount", "unspecified card type", () => cardInput({ cardType: 0 }), "card.card_type"],
  ["addFinancialAccount", "unknown card type", () => cardInput({ cardType: 7 }), "card.card_type"],
  ["setFinancialAccountStatus", "unspecified status", () => ({ status: 0 }), "status"],
  [
    "setFinancialAccountStatus",
    "DISCONNECTED (only erasing sets it)",
    () => ({ status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_DISCONNECTED }),
    "status",
  ],
  ["setFinancialAccountStatus", "unknown status", () => ({ status: 9 }), "status"],
  ["setFinancialAccountStatus", "suspending without a reason", () => ({ reason: "" }), "reason"],
  ["setFinancialAccountStatus", "reason over 500", () => ({ reason: x(501) }), "reason"],
  [
    "recordDocumentAcceptance",
    "document id with a space",
    () => ({ documentId: "terms of service" }),
    "document_id",
  ],
  ["recordDocumentAcceptance", "empty document id", () => ({ documentId: "" }), "document_id"],
  ["recordDocumentAcceptance", "document id over 100", () => ({ documentId: x(101) }), "document_id"],
  ["recordDocumentAcceptance", "empty version", () => ({ version: "" }), "version"],
  ["recordDocumentAcceptance", "version over 50", () => ({ version: x(51) }), "version"],
  [
    "recordDocumentAcceptance",
    "hash without its algorithm",
    () => ({ contentHash: "ab".repeat(32) }),
    "content_hash",
  ],
  [
    "recordDocumentAcceptance",
    "hash with upper-case hex",
    () => ({ contentHash: `sha256:${"AB".repeat(32)}` }),
    "content_hash",
  ],
  [
    "recordDocumentAcceptance",
    "hash one digit short",
    () => ({ contentHash: `sha256:${"a".repeat(63)}` }),
    "content_hash",
  ],
  ["recordDocumentAcceptance", "scope with spaces", () => ({ scope: "Debit Authorization" }), "scope"],
  ["recordDocumentAcceptance", "scope over 64", () => ({ scope: x(65) }), "scope"],
  ["recordDocumentAcceptance", "no acceptance time", () => ({ acceptedAt: undefined }), "accepted_at"],
  [
    "recordDocumentAcceptance",
    "accepted an hour from now",
    () => ({ acceptedAt: new Date(env.clock.now() + 3_600_000) }),
    "accepted_at",
  ],
  ["recordDocumentAcceptance", "IPv4 out of range", () => ({ ip: "300.1.1.1" }), "ip"],
  ["recordDocumentAcceptance", "empty IP", () => ({ ip: "" }), "ip"],
  ["recordDocumentAcceptance", "host name for an IP", () => ({ ip: "example.com" }), "ip"],
  ["recordDocumentAcceptance", "empty user agent", () => ({ userAgent: "" }), "user_agent"],
  ["recordDocumentAcceptance", "user agent over 1000", () => ({ userAgent: x(1001) }), "user_agent"],
  ["recordDocumentAcceptance", "workflow id of another kind", () => ({ workflowId: "cus_1" }), "workflow_id"],
  ["recordDocumentAcceptances", "no documents", () => ({ documents: [] }), "documents"],
  [
    "recordDocumentAcceptances",
    "21 documents",
    () => ({
      documents: Array.from({ length: 21 }, (_, i) => ({
        documentId: `doc-${i}`,
        version: "1",
        contentHash: `sha256:${"ab".repeat(32)}`,
        scope: "",
      })),
    }),
    "documents",
  ],
  [
    "recordDocumentAcceptances",
    "a bad hash on the second document",
    () => ({ documents: [docAt(0), { ...docAt(1), contentHash: "sha256:nope" }] }),
    "documents[1].content_hash",
  ],
  [
    "recordDocumentAcceptances",
    "a document id with a space",
    () => ({ documents: [{ ...docAt(0), documentId: "terms of service" }] }),
    "documents[0].document_id",
  ],
  [
    "recordDocumentAcceptances",
    "an empty version",
    () => ({ documents: [docAt(0), { ...docAt(1), version: " " }] }),
    "documents[1].version",
  ],
  [
    "recordDocumentAcceptances",
    "a scope with spaces",
    () => ({ documents: [{ ...docAt(0), scope: "Debit Authorization" }] }),
    "documents[0].scope",
  ],
  [
    "recordDocumentAcceptances",
    "the same document and version twice",
    () => ({ documents: [docAt(0), docAt(1), { ...docAt(0), version: " 2024-03 " }] }),
    "documents[2]",
  ],
  ["recordDocumentAcceptances", "no acceptance time", () => ({ acceptedAt: undefined }), "accepted_at"],
  ["recordDocumentAcceptances", "host name for an IP", () => ({ ip: "example.com" }), "ip"],
  ["recordDocumentAcceptances", "user agent over 1000", () => ({ userAgent: x(1001) }), "user_agent"],
  [
    "recordDocumentAcceptances",
    "workflow id of another kind",
    () => ({ workflowId: "cus_1" }),
    "workflow_id",
  ],
  ["listDocumentAcceptances", "document id with a space", () => ({ documentId: "a b" }), "document_id"],
  [
    "appendEnhancedPii",
    "nothing to append",
    () => ({ dateOfBirth: "", taxId: "", identityDocument: undefined }),
    "date_of_birth",
  ],
  [
    "appendEnhancedPii",
    "date of birth not YYYY-MM-DD",
    () => ({ dateOfBirth: "19/07/1984" }),
    "date_of_birth",
  ],
  ["appendEnhancedPii", "30 February", () => ({ dateOfBirth: "1984-02-30" }), "date_of_birth"],
  ["appendEnhancedPii", "born tomorrow", () => ({ dateOfBirth: "2025-06-17" }), "date_of_birth"],
  ["appendEnhancedPii", "born before 1900", () => ({ dateOfBirth: "1899-12-31" }), "date_of_birth"],
  ["appendEnhancedPii", "8-digit tax id", () => ({ taxId: "12345678" }), "tax_id"],
  ["appendEnhancedPii", "tax id with a letter", () => ({ taxId: "123-45-678x" }), "tax_id"],
  ["appendEnhancedPii", "tax id starting 000", () => ({ taxId: "000-12-3456" }), "tax_id"],
  [
    "appendEnhancedPii",
    "unknown document type",
    () => ({ identityDocument: { type: "library_card", number: "X9Q4417726", country: "GB" } }),
    "identity_document.type",
  ],
  [
    "appendEnhancedPii",
    "3-character document number",
    () => ({ identityDocument: { type: "passport", number: "X9Q", country: "GB" } }),
    "identity_document.number",
  ],
  [
    "appendEnhancedPii",
    "document number with a space",
    () => ({ identityDocument: { type: "passport", number: "X9Q 4417726", country: "GB" } }),
    "identity_document.number",
  ],
  [
    "appendEnhancedPii",
    "lower-case country",
    () => ({ identityDocument: { type: "passport", number: "X9Q4417726", country: "gb" } }),
    "identity_document.country",
  ],
];
refusals.push(...financialRows.map(([method, , , field]) => ({ method, fields: [field] })));

describe("financial accounts, document acceptances and enhanced PII, field by field", () => {
  const counts = async () =>
    (
      await env.sql<{ accounts: number; history: number; acceptances: number; pii: number; idem: number }[]>`
        select (select count(*)::int from accounts.financial_accounts where customer_id = ${cus}) as accounts,
               (select count(*)::int from accounts.financial_account_status_history h
                  join accounts.financial_accounts f on f.id = h.financial_account_id
                  where f.customer_id = ${cus}) as history,
               (select count(*)::int from accounts.document_acceptances where customer_id = ${cus}) as acceptances,
               (select count(*)::int from accounts.customer_enhanced_pii where customer_id = ${cus}) as pii,
               (select count(*)::int from accounts.idempotency where business_id = ${biz}) as idem`
    )[0];

  it.each(financialRows)("%s: %s → %s", async (method, label, change, field) => {
    const before = await counts();
    const request = { ...financialBase[method]!(), ...change() };
    await expectViolations(
      call(env.client, method as "getBusiness", request as never),
      [field],
      `${method} ${label}`,
    );
    expect(await counts()).toEqual(before);
  });

  it("passes validation with the base requests the rows start from", async () => {
    // Without this, a row could pass only because its base request is itself invalid.
    for (const [method, base] of Object.entries(financialBase)) {
      const err = await call(env.client, method as "getBusiness", base() as never).then(
        () => undefined,
        (e: { code?: number; details?: string }) => e,
      );
      expect(err?.code, `${method}: ${err?.details}`).not.toBe(status.INVALID_ARGUMENT);
    }
  });
});

describe("the tables above", () => {
  it("try bad input on every request field of every accounts RPC", () => {
    expect(
      uncoveredFields(AccountsServiceService, refusals, {
        oneofs: { profile: ["individual", "business"], details: ["bank_account", "card"] },
        exempt: {
          "authenticateApiKey.api_key":
            "a bad key is UNAUTHENTICATED, never a field violation (no oracle on its format); tested above",
          "addFinancialAccount.make_default": "a bool: both values are valid",
        },
      }),
    ).toEqual([]);
  });
});
