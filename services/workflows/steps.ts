import type { FieldViolation } from "../../core/index.ts";
import type { StepIR } from "../../dsl/index.ts";
import { isE164, isEmail } from "../grpc/index.ts";

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export const PROFILE_FIELD_LABELS: Record<string, string> = {
  first_name: "First name",
  last_name: "Last name",
  email: "Email",
  phone: "Mobile number",
  date_of_birth: "Date of birth",
  address: "Address",
  dba_name: "Business name (DBA)",
  contact_first_name: "Contact first name",
  contact_last_name: "Contact last name",
  contact_email: "Contact email",
  contact_phone: "Contact mobile number",
  tax_id: "Tax id",
  additional_contacts: "Additional contacts",
};

/** Step kinds whose activities this server runs end to end. */
export const SUPPORTED_STEP_KINDS: ReadonlySet<string> = new Set([
  "collect_profile",
  "lookup_customer",
  "collect_financial_account",
  "accept_documents",
  "confirm_transaction",
  "upload_documents",
  "verify_identity",
]);

function str(v: unknown): string {
  return typeof v === "string" ? v.trim() : "";
}

function checkField(name: string, value: string): string | undefined {
  if (value.length > 200) return "is too long (200 characters at most)";
  if ((name === "email" || name === "contact_email") && !isEmail(value)) return "must be an email address";
  if ((name === "phone" || name === "contact_phone") && !isE164(value))
    return "must be a mobile number in international format, like +14155550123";
  if (name === "date_of_birth" && !DATE.test(value)) return "must be a date like 1990-04-21";
  return undefined;
}

/**
 * Checks what the customer submitted for a step and returns the cleaned
 * values. Field names in violations are the form's field names.
 */
export function validateStepData(
  step: StepIR,
  data: Record<string, unknown>,
): { ok: true; values: Record<string, string> } | { ok: false; violations: FieldViolation[] } {
  const violations: FieldViolation[] = [];
  const values: Record<string, string> = {};
  const a = step.action;
  if (a.kind === "collect_profile") {
    for (const f of a.fields) {
      const v = str(data[f.name]);
      if (!v) {
        if (f.required)
          violations.push({
            field: f.name,
            description: `${PROFILE_FIELD_LABELS[f.name] ?? f.name} is required`,
          });
        continue;
      }
      const problem = checkField(f.name, v);
      if (problem)
        violations.push({
          field: f.name,
          description: `${PROFILE_FIELD_LABELS[f.name] ?? f.name} ${problem}`,
        });
      else values[f.name] = v;
    }
  } else if (a.kind === "collect_financial_account") {
    // The page never hands account numbers to the actor: the workflows service
    // vaults them with the accounts service first and submits only the result.
    const id = str(data.financial_account_id);
    const kind = str(data.kind);
    if (!/^fa_[0-9a-z]{26}$/.test(id))
      violations.push({ field: "financial_account_id", description: "is required" });
    if (!a.accountKinds.includes(kind as never)) {
      violations.push({ field: "kind", description: `must be one of ${a.accountKinds.join(", ")}` });
    }
    Object.assign(values, {
      financial_account_id: id,
      kind,
      subtype: str(data.subtype),
      last4: str(data.last4).slice(-4),
      provider: str(data.provider) || "manual",
    });
  } else if (a.kind === "accept_documents") {
    a.documents.forEach((d, i) => {
      if (str(data[`accept_${i}`]) !== "on" && data[`accept_${i}`] !== true) {
        violations.push({
          field: `accept_${i}`,
          description: `Please accept ${d.title ?? d.id} to continue`,
        });
      }
    });
  } else if (a.kind === "confirm_transaction") {
    if (str(data.decision) !== "approve")
      violations.push({ field: "decision", description: "Approve or decline the payment" });
  } else if (a.kind === "upload_documents") {
    // Files are stored by the workflows service first; the step gets their ids.
    const ids = str(data.upload_ids)
      .split(",")
      .filter((x) => /^upl_[0-9a-z]{26}$/.test(x));
    if (ids.length < a.minCount || ids.length > a.maxCount) {
      violations.push({ field: "files", description: `Please add ${a.minCount} to ${a.maxCount} files` });
    }
    Object.assign(values, { upload_ids: ids.join(","), count: String(ids.length) });
  } else if (a.kind === "verify_identity") {
    if (str(data.verified) !== "true")
      violations.push({ field: "document", description: "Your identity could not be verified" });
    Object.assign(values, { verified: "true", method: str(data.method), check_id: str(data.check_id) });
  }
  // lookup_customer: nothing to enter, the customer confirms it is them.
  return violations.length > 0 ? { ok: false, violations } : { ok: true, values };
}
