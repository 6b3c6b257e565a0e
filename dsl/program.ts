/**
 * WorkflowProgram: the JSON-serialisable intermediate representation a
 * template compiles to and the workflow actor interprets. Bump IR_VERSION on
 * any incompatible change; journals pin the program (and its hash) they
 * started with.
 */
export const IR_VERSION = 1 as const;

/** Static types of template values. */
export type ValueType =
  | "text"
  | "number"
  | "money"
  | "phone"
  | "email"
  | "date"
  | "boolean"
  | "enum"
  | "duration"
  | "list";

/** Money is integer minor units plus an ISO 4217 currency, never a float. */
export interface Money {
  amountMinor: number;
  currency: string;
}

export type LiteralValue = string | number | boolean | Money | null;

/** Source position kept in the IR for runtime error messages. */
export interface SourceSpan {
  line: number;
  column: number;
}

export type Expr =
  | { k: "lit"; type: ValueType; value: LiteralValue }
  /** `input.amount`, `profile.first_name`, `bank.kind`, `transaction.status`. */
  | { k: "ref"; path: string[]; type: ValueType }
  | {
      k: "bin";
      op: "==" | "!=" | "<" | "<=" | ">" | ">=" | "and" | "or" | "+" | "-" | "*" | "/";
      left: Expr;
      right: Expr;
      type: ValueType;
    }
  | { k: "not"; expr: Expr; type: "boolean" }
  | { k: "neg"; expr: Expr; type: ValueType }
  | { k: "in"; expr: Expr; list: Expr[]; type: "boolean" }
  /** String interpolation: `"Hello {profile.first_name}"`. */
  | { k: "interp"; parts: (string | Expr)[]; type: "text" };

export interface InputDecl {
  name: string;
  type: Exclude<ValueType, "duration" | "list">;
  optional: boolean;
  default?: LiteralValue;
  /** Allowed values when type is `enum`. */
  values?: string[];
  /** For money: the only ISO 4217 currency accepted (`money(USD)`); any currency when absent. */
  currency?: string;
  description?: string;
}

export type Channel = "sms" | "email";

export interface LinkPolicy {
  channels: Channel[];
  expiresInMs: number;
  reminders: {
    /** Send a reminder every N ms after the link was sent, until completion or expiry. */
    everyMs?: number;
    /** Send a reminder this many ms before expiry (one entry per reminder). */
    beforeExpiryMs: number[];
    /** Never send more than this many reminders in total. */
    maxCount?: number;
  };
  /** Send a one-time code to the customer's phone before showing the steps. */
  verifyWithCode: boolean;
  /** The link stops working once the workflow reaches a final status. */
  singleUse: boolean;
}

export type ProfileField =
  | "first_name"
  | "last_name"
  | "email"
  | "phone"
  | "date_of_birth"
  | "address"
  | "dba_name"
  | "contact_first_name"
  | "contact_last_name"
  | "contact_email"
  | "contact_phone"
  | "additional_contacts"
  | "tax_id";

export type FinancialAccountKind = "bank_account" | "debit_card" | "credit_card";
export type BankLinkProvider = "plaid" | "finicity";
export type TransactionMethod = "push_to_card" | "ach_credit" | "ach_debit";

export type StepAction =
  | {
      kind: "collect_profile";
      profile: "individual" | "business";
      fields: { name: ProfileField; required: boolean }[];
    }
  | { kind: "lookup_customer"; by: ("phone" | "email" | "external_id")[] }
  | {
      kind: "collect_financial_account";
      accountKinds: FinancialAccountKind[];
      /** e.g. "checking", "savings" for bank accounts. */
      subtypes: string[];
      manual: boolean;
      /** Bank-link providers, tried in this order (waterfall). Empty: manual entry only. */
      providers: BankLinkProvider[];
    }
  | { kind: "accept_documents"; documents: AcceptedDocument[] }
  | {
      kind: "upload_documents";
      kinds: string[];
      minCount: number;
      maxCount: number;
      maxSizeBytes: number;
      contentTypes: string[];
    }
  | { kind: "verify_identity"; methods: string[] }
  | {
      kind: "confirm_transaction";
      direction: "send" | "request";
      amount: Expr;
      /** Id of the step that collected the financial account. */
      account: string;
      /** First method whose `when` holds; the last entry usually has no condition. */
      methods: { method: TransactionMethod; when?: Expr }[];
      declineReasons: string[];
      /** The customer may type their own reason ("other"). */
      allowOtherReason: boolean;
      /** For ach_debit: id of the accepted authorization document. */
      authorizationDocument?: string;
    };

export interface StepIR {
  id: string;
  title: string;
  /** The step is skipped when this is false at the time it would start. */
  when?: Expr;
  action: StepAction;
  /** The customer may decline the whole workflow at this step. */
  declinable: boolean;
  /** The predefined reasons offered when declining (any step kind). */
  declineReasons?: string[];
  /** The customer may type their own reason ("other"). */
  allowOtherReason?: boolean;
  span?: SourceSpan;
}

export interface RuleIR {
  name: string;
  require: Expr;
  rejectMessage: string;
}

export type HandlerEvent =
  | "completed"
  | "declined"
  | "expired"
  | "cancelled"
  | "step_completed"
  | "transaction_status_changed";

export type HandlerAction =
  | { kind: "text_customer"; message: Expr }
  | { kind: "email_customer"; subject?: Expr; message: Expr }
  | { kind: "notify_business" }
  | { kind: "tag"; tag: string };

export interface HandlerIR {
  on: HandlerEvent;
  /** For step_completed: only this step. */
  step?: string;
  actions: HandlerAction[];
}

export interface WorkflowProgram {
  irVersion: typeof IR_VERSION;
  /** sha256 (hex) of the canonical JSON of everything below. */
  hash: string;
  template: { name: string; title: string; version: number };
  inputs: InputDecl[];
  link: LinkPolicy;
  steps: StepIR[];
  rules: RuleIR[];
  handlers: HandlerIR[];
}

/**
 * A document a customer accepts: its id and version, a title, and the text
 * shown to the customer (whose hash the acceptance records).
 */
export interface AcceptedDocument {
  id: string;
  version?: string;
  title?: string;
  /** The document's text, shown on the page above the checkbox; paragraphs split on blank lines. */
  text?: string;
}
