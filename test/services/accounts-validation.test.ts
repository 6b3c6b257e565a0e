import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Address,
  AddressKind,
  type BusinessProfile,
  type Contact,
  type CreateCustomerRequest,
  CustomerStatus,
  type IndividualProfile,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { expectViolations, rejected } from "./helpers.ts";
import { type AccountsStack, person, startAccounts } from "./stack.ts";

let env: AccountsStack;
let biz = "";
let cus = "";

beforeAll(async () => {
  env = await startAccounts();
  biz = await env.business();
  cus = await env.customer(biz);
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
  it.each(rows)("%s → %s", async (label, over, field) => {
    await expectViolations(createCustomer({ profile: asPerson(person()), ...over }), [field], label);
  });
});

type Row = [string, string, () => object, string[]];

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
