import type { TransactionSql } from "postgres";
import { type Keyring, numberFingerprint, openNumber, sealNumber } from "../../core/index.ts";
import type { AppendEnhancedPiiRequest, EnhancedPii } from "../../proto/index.ts";
import type { Violations } from "../grpc/index.ts";

/** What is on file, as sealed (one ciphertext per customer, bound to its id). */
interface PiiOnFile {
  date_of_birth?: string;
  tax_id?: string;
  identity_document?: { type: string; number: string; country: string };
}

const DOCUMENT_TYPES = new Set(["passport", "drivers_license", "national_id"]);
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function isPastDate(value: string, now: Date): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  // Date.UTC rolls 2001-02-30 over to March: a real date survives the round trip.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return false;
  return y >= 1900 && t < now.getTime();
}

const taxDigits = (taxId: string) => taxId.replace(/-/g, "");

/** Adds a violation per bad field of an AppendEnhancedPii request's PII (ids and key aside). */
export function validateEnhancedPii(v: Violations, req: AppendEnhancedPiiRequest, now: Date): void {
  const doc = req.identityDocument;
  if (!req.dateOfBirth && !req.taxId && !doc)
    v.add("date_of_birth", "one of date_of_birth, tax_id or identity_document is required");
  if (req.dateOfBirth && !isPastDate(req.dateOfBirth, now))
    v.add("date_of_birth", "must be a date in the past, YYYY-MM-DD, from 1900 on");
  if (req.taxId && !(/^[\d-]+$/.test(req.taxId) && /^(?!000)\d{9}$/.test(taxDigits(req.taxId))))
    v.add("tax_id", "must be a 9-digit SSN or ITIN (dashes allowed)");
  if (doc) {
    if (!DOCUMENT_TYPES.has(doc.type))
      v.add("identity_document.type", "must be passport, drivers_license or national_id");
    if (!/^[A-Za-z0-9]{4,30}$/.test(doc.number))
      v.add("identity_document.number", "must be 4 to 30 letters or digits");
    if (!/^[A-Z]{2}$/.test(doc.country))
      v.add("identity_document.country", "must be an ISO 3166-1 alpha-2 code such as US");
  }
}

/** The request with every PII value replaced by its keyed fingerprint, for the idempotency hash. */
export function fingerprinted(
  keyring: Keyring,
  req: Omit<AppendEnhancedPiiRequest, "idempotencyKey">,
  keyId = keyring.currentKeyId,
) {
  const fp = (s: string) => (s ? numberFingerprint(keyring, s, keyId) : "");
  const doc = req.identityDocument;
  return {
    ...req,
    dateOfBirth: fp(req.dateOfBirth),
    taxId: fp(req.taxId && taxDigits(req.taxId)),
    identityDocument: doc ? { ...doc, number: fp(doc.number) } : undefined,
  };
}

/** The names of the fields a request appends (for the log line: names, never values). */
export function appendedFields(req: AppendEnhancedPiiRequest): string[] {
  return [
    ...(req.dateOfBirth ? ["date_of_birth"] : []),
    ...(req.taxId ? ["tax_id"] : []),
    ...(req.identityDocument ? ["identity_document"] : []),
  ];
}

/**
 * Merges the request's PII into what the customer has on file and seals the
 * result under the current key. What is on file is opened with the key it was
 * sealed with, so appending after a key rotation keeps the earlier fields.
 */
export async function appendEnhancedPii(
  tx: TransactionSql,
  keyring: Keyring,
  req: AppendEnhancedPiiRequest,
  at: Date,
): Promise<void> {
  const [row] = await tx<{ key_id: string; ciphertext: Buffer }[]>`
    select key_id, ciphertext from accounts.customer_enhanced_pii where customer_id = ${req.customerId}`;
  const onFile: PiiOnFile = row
    ? JSON.parse(openNumber(keyring, { keyId: row.key_id, ciphertext: row.ciphertext }, req.customerId))
    : {};
  const doc = req.identityDocument;
  const merged: PiiOnFile = {
    ...onFile,
    ...(req.dateOfBirth ? { date_of_birth: req.dateOfBirth } : {}),
    ...(req.taxId ? { tax_id: taxDigits(req.taxId) } : {}),
    ...(doc ? { identity_document: { type: doc.type, number: doc.number, country: doc.country } } : {}),
  };
  const sealed = sealNumber(keyring, JSON.stringify(merged), req.customerId);
  const summary = {
    has_date_of_birth: merged.date_of_birth !== undefined,
    tax_id_last4: merged.tax_id?.slice(-4) ?? "",
    document_type: merged.identity_document?.type ?? "",
    document_country: merged.identity_document?.country ?? "",
    document_last4: merged.identity_document?.number.slice(-4) ?? "",
  };
  await tx`
    insert into accounts.customer_enhanced_pii
      (customer_id, business_id, key_id, ciphertext, has_date_of_birth, tax_id_last4,
       document_type, document_country, document_last4, updated_at)
    values (${req.customerId}, ${req.businessId}, ${sealed.keyId}, ${sealed.ciphertext},
       ${summary.has_date_of_birth}, ${summary.tax_id_last4}, ${summary.document_type},
       ${summary.document_country}, ${summary.document_last4}, ${at})
    on conflict (customer_id) do update set
      key_id = excluded.key_id, ciphertext = excluded.ciphertext,
      has_date_of_birth = excluded.has_date_of_birth, tax_id_last4 = excluded.tax_id_last4,
      document_type = excluded.document_type, document_country = excluded.document_country,
      document_last4 = excluded.document_last4, updated_at = excluded.updated_at`;
}

/** The summary columns of `accounts.customer_enhanced_pii p` (null when none is on file), for a left join. */
export const ENHANCED_PII_COLUMNS = `p.has_date_of_birth, p.tax_id_last4, p.document_type, p.document_country,
  p.document_last4, p.updated_at as pii_updated_at`;

/** What {@link ENHANCED_PII_COLUMNS} reads. */
export interface EnhancedPiiColumns {
  has_date_of_birth: boolean | null;
  tax_id_last4: string | null;
  document_type: string | null;
  document_country: string | null;
  document_last4: string | null;
  pii_updated_at: Date | null;
}

/** The masked summary of a customer's enhanced PII, or undefined when none is on file. */
export function enhancedPiiOf(r: EnhancedPiiColumns): EnhancedPii | undefined {
  if (r.has_date_of_birth === null) return undefined;
  return {
    dateOfBirthOnFile: r.has_date_of_birth,
    taxIdLast4: r.tax_id_last4 ?? "",
    identityDocumentType: r.document_type ?? "",
    identityDocumentCountry: r.document_country ?? "",
    identityDocumentLast4: r.document_last4 ?? "",
    updatedAt: r.pii_updated_at ?? undefined,
  };
}

/** Erases a customer's enhanced PII (the customer is being deleted). */
export async function eraseEnhancedPii(tx: TransactionSql, customerId: string): Promise<void> {
  await tx`delete from accounts.customer_enhanced_pii where customer_id = ${customerId}`;
}
