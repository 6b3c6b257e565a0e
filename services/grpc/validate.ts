import { type FieldViolation, ValidationError } from "../../core/index.ts";
import { IDEMPOTENCY_KEY_RULE, isIdempotencyKey } from "./idempotency.ts";

const E164 = /^\+[1-9]\d{7,14}$/;
const EMAIL = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[A-Za-z]{2,}$/;

/**
 * Collects field violations over a whole request, then throws one
 * ValidationError (INVALID_ARGUMENT with a BadRequest) listing all of them.
 */
export class Violations {
  readonly list: FieldViolation[] = [];

  add(field: string, description: string): this {
    this.list.push({ field, description });
    return this;
  }

  required(field: string, value: string | undefined): boolean {
    if (!value || value.trim() === "") {
      this.add(field, "is required");
      return false;
    }
    return true;
  }

  /** Non-empty (after trimming) and at most `max` characters. */
  text(field: string, value: string | undefined, opts: { max?: number; optional?: boolean } = {}): void {
    const max = opts.max ?? 100;
    if (!value || value.trim() === "") {
      if (!opts.optional) this.add(field, "is required");
      return;
    }
    if (value.length > max) this.add(field, `must be at most ${max} characters`);
  }

  phone(field: string, value: string | undefined, opts: { optional?: boolean } = {}): void {
    if (!value) {
      if (!opts.optional) this.add(field, "is required");
      return;
    }
    if (!E164.test(value)) this.add(field, "must be an E.164 phone number such as +15551234567");
  }

  email(field: string, value: string | undefined, opts: { optional?: boolean } = {}): void {
    if (!value) {
      if (!opts.optional) this.add(field, "is required");
      return;
    }
    if (value.length > 254 || !EMAIL.test(value))
      this.add(field, "must be an email address such as name@example.com");
  }

  id(field: string, value: string | undefined, prefix: string): void {
    if (!value) this.add(field, "is required");
    else if (!value.startsWith(`${prefix}_`) || value.length > 64)
      this.add(field, `must be a ${prefix}_… id`);
  }

  /**
   * An idempotency key: empty unless `required`, else 6–255 printable characters.
   * `idempotent()` enforces the same rule; checking here lists it with the other fields.
   */
  idempotencyKey(field: string, value: string | undefined, opts: { required?: boolean } = {}): void {
    if (!value) {
      if (opts.required) this.add(field, `is required: ${IDEMPOTENCY_KEY_RULE}`);
      return;
    }
    if (!isIdempotencyKey(value)) this.add(field, IDEMPOTENCY_KEY_RULE);
  }

  /**
   * A value of a generated proto enum. Numbers the enum does not name arrive
   * as themselves over the wire (not as UNRECOGNIZED), so both are refused.
   */
  enumValue(field: string, value: number, names: Record<number, string>, description: string): void {
    if (value === -1 || typeof names[value] !== "string") this.add(field, description);
  }

  /** `page.page_size` (0 means the default, at most `max`) and `page.page_token` (an id with `prefix`). */
  page(page: { pageSize: number; pageToken: string } | undefined, prefix: string, max = 500): void {
    const size = page?.pageSize ?? 0;
    if (!Number.isInteger(size) || size < 0 || size > max)
      this.add("page.page_size", `must be 0 (the default) to ${max}`);
    const token = page?.pageToken ?? "";
    if (token && (!token.startsWith(`${prefix}_`) || token.length > 64 || !/^[\w-]+$/.test(token)))
      this.add("page.page_token", "is not a token from a previous page");
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new ValidationError(this.list);
  }
}

/** The email shape every service accepts (one rule, so a workflow never takes what accounts would refuse). */
export function isEmail(value: string): boolean {
  return value.length <= 254 && EMAIL.test(value);
}

export function isE164(value: string): boolean {
  return E164.test(value);
}
