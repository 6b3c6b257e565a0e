import type { Address, BusinessProfile, Contact, IndividualProfile } from "../../proto/index.ts";
import { AddressKind } from "../../proto/index.ts";
import type { Violations } from "../grpc/index.ts";

export type Profile =
  | { $case: "individual"; value: IndividualProfile }
  | { $case: "business"; value: BusinessProfile };

const COUNTRY = /^[A-Z]{2}$/;

function address(v: Violations, field: string, a: Address): void {
  v.enumValue(`${field}.kind`, a.kind, AddressKind, "is not a known address kind");
  v.text(`${field}.line1`, a.line1, { max: 200 });
  v.text(`${field}.line2`, a.line2, { max: 200, optional: true });
  v.text(`${field}.city`, a.city, { max: 100 });
  v.text(`${field}.region`, a.region, { max: 100, optional: true });
  v.text(`${field}.postal_code`, a.postalCode, { max: 20, optional: true });
  if (!COUNTRY.test(a.country)) v.add(`${field}.country`, "must be an ISO 3166-1 alpha-2 code such as US");
}

function contact(v: Violations, field: string, c: Contact | undefined): void {
  if (!c) {
    v.add(field, "is required");
    return;
  }
  v.text(`${field}.first_name`, c.firstName);
  v.text(`${field}.last_name`, c.lastName);
  v.email(`${field}.email`, c.email);
  v.phone(`${field}.phone`, c.phone);
}

/** Validates a customer profile; field paths use the proto field names. */
export function validateProfile(v: Violations, profile: Profile | undefined): void {
  if (!profile) {
    v.add("profile", "one of individual or business is required");
    return;
  }
  if (profile.$case === "individual") {
    const p = profile.value;
    v.text("individual.first_name", p.firstName);
    v.text("individual.last_name", p.lastName);
    // A customer is reachable by email or by phone; either one is enough (a link sent by SMS may not ask for an email).
    if (!p.email && !p.phone) v.add("individual.email", "an email or a phone number is required");
    v.email("individual.email", p.email, { optional: true });
    v.phone("individual.phone", p.phone, { optional: true });
    if (p.addresses.length > 10) v.add("individual.addresses", "at most 10 addresses");
    p.addresses.forEach((a, i) => {
      address(v, `individual.addresses[${i}]`, a);
    });
  } else {
    const p = profile.value;
    v.text("business.dba_name", p.dbaName, { max: 200 });
    contact(v, "business.primary_contact", p.primaryContact);
    if (p.contacts.length > 20) v.add("business.contacts", "at most 20 contacts");
    p.contacts.forEach((c, i) => {
      contact(v, `business.contacts[${i}]`, c);
    });
    if (p.addresses.length > 10) v.add("business.addresses", "at most 10 addresses");
    p.addresses.forEach((a, i) => {
      address(v, `business.addresses[${i}]`, a);
    });
  }
}

/** Trims names and lower-cases email domains so equal profiles compare equal. */
export function normalizeProfile(profile: Profile): Profile {
  const email = (e: string) => {
    const at = e.lastIndexOf("@");
    return at < 0
      ? e.trim()
      : `${e.slice(0, at).trim()}@${e
          .slice(at + 1)
          .trim()
          .toLowerCase()}`;
  };
  const c = (x: Contact): Contact => ({
    firstName: x.firstName.trim(),
    lastName: x.lastName.trim(),
    email: email(x.email),
    phone: x.phone.trim(),
  });
  if (profile.$case === "individual") {
    const p = profile.value;
    return {
      $case: "individual",
      value: {
        ...p,
        firstName: p.firstName.trim(),
        lastName: p.lastName.trim(),
        email: email(p.email),
        phone: p.phone.trim(),
      },
    };
  }
  const p = profile.value;
  return {
    $case: "business",
    value: {
      ...p,
      dbaName: p.dbaName.trim(),
      ...(p.primaryContact ? { primaryContact: c(p.primaryContact) } : {}),
      contacts: p.contacts.map(c),
    },
  };
}

/** Checks the business and customer ids that scope a customer request. */
export function customerIds(v: Violations, businessId: string, customerId: string): void {
  v.id("business_id", businessId, "biz");
  v.id("customer_id", customerId, "cus");
}
