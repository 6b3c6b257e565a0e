import { createHmac } from "node:crypto";
import { type FieldViolation, LinkflowError, ValidationError } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  BankAccountType,
  CardType,
  FinancialAccountSource,
} from "../../proto/index.ts";
import { callOrThrow } from "../grpc/index.ts";
import type { LinkedBankAccount } from "./banklink.ts";
import { ensureCustomer } from "./effects.ts";
import type { Recipient } from "./model.ts";

/** What the customer typed on the financial-account page (never journaled, never logged). */
export interface FinancialAccountForm {
  kind: string;
  routing_number?: string;
  account_number?: string;
  account_type?: string;
  name_on_account?: string;
  card_number?: string;
  expiry?: string;
}

/** What the workflow keeps: the account's id and masked facts only. */
export interface VaultedAccount {
  financial_account_id: string;
  customer_id: string;
  kind: string;
  subtype: string;
  last4: string;
  provider: string;
}

/** Accounts-service field paths → the page's field names. */
function formField(path: string): string {
  if (path === "card.number") return "card_number";
  if (path === "card.expiry") return "expiry";
  return path.replace(/^bank_account\./, "").replace(/^details$/, "kind");
}

/**
 * Tells one account the customer typed from another in the idempotency key of
 * its AddFinancialAccount (a corrected resubmission is a new account, a
 * double submission the same one). Keyed with the node's secret: the key is
 * stored in clear, and a plain hash of a card or account number, whose last
 * four digits are shown, would give the rest away to a few thousand guesses.
 */
export function accountFingerprint(secret: string, details: unknown): string {
  return createHmac("sha256", secret)
    .update("linkflow financial account fingerprint\n")
    .update(JSON.stringify(details))
    .digest("hex")
    .slice(0, 32);
}

/**
 * Stores the customer's bank account or card with the accounts service
 * (which validates it and encrypts the number) before the workflow hears of
 * it; the workflow only ever sees the account id and the last four digits.
 */
export async function vaultFinancialAccount(
  accounts: AccountsServiceClient,
  ctx: {
    businessId: string;
    workflowId: string;
    stepId: string;
    customerId?: string;
    recipient: Recipient;
    /** The node's secret, which keys the account's fingerprint. */
    secret: string;
  },
  form: FinancialAccountForm,
  allowedKinds: string[],
  linked?: LinkedBankAccount,
): Promise<VaultedAccount> {
  const kind = form.kind || allowedKinds[0] || "";
  if (!allowedKinds.includes(kind)) {
    throw new ValidationError([{ field: "kind", description: "Choose a bank account or a card" }]);
  }
  const isBank = kind === "bank_account";
  const subtype = isBank
    ? form.account_type === "savings"
      ? "savings"
      : "checking"
    : kind === "credit_card"
      ? "credit"
      : "debit";
  const details = isBank
    ? ({
        $case: "bankAccount",
        value: {
          routingNumber: (form.routing_number ?? "").trim(),
          accountNumber: (form.account_number ?? "").replace(/[\s-]/g, ""),
          accountType:
            subtype === "savings"
              ? BankAccountType.BANK_ACCOUNT_TYPE_SAVINGS
              : BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
          nameOnAccount: (form.name_on_account ?? "").trim(),
        },
      } as const)
    : ({
        $case: "card",
        value: {
          number: (form.card_number ?? "").replace(/[\s-]/g, ""),
          expiry: (form.expiry ?? "").trim(),
          cardType: subtype === "credit" ? CardType.CARD_TYPE_CREDIT : CardType.CARD_TYPE_DEBIT,
        },
      } as const);
  const fingerprint = accountFingerprint(ctx.secret, details);
  try {
    const customerId = await ensureCustomer(accounts, ctx);
    const { financialAccount } = await callOrThrow(accounts, "addFinancialAccount", {
      businessId: ctx.businessId,
      customerId,
      idempotencyKey: `${ctx.workflowId}:${ctx.stepId}:${fingerprint}`,
      name: isBank ? `Bank account (${subtype})` : `Card (${subtype})`,
      source: linked
        ? linked.provider === "plaid"
          ? FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_PLAID
          : FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_FINICITY
        : FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
      providerAccountId: linked?.providerAccountId ?? "",
      details,
      makeDefault: true,
    });
    return {
      financial_account_id: financialAccount!.id,
      customer_id: customerId,
      kind,
      subtype,
      last4: financialAccount!.numberLast4,
      provider: linked?.provider ?? "manual",
    };
  } catch (err) {
    if (err instanceof LinkflowError && err.violations.length > 0) {
      const v: FieldViolation[] = err.violations.map((x) => ({
        field: formField(x.field),
        description: x.description,
      }));
      throw new ValidationError(v);
    }
    throw err;
  }
}

/** Stores an account a bank-link provider returned, through the same path as a typed one. */
export function vaultLinkedAccount(
  accounts: AccountsServiceClient,
  ctx: Parameters<typeof vaultFinancialAccount>[1],
  linked: LinkedBankAccount,
): Promise<VaultedAccount> {
  return vaultFinancialAccount(
    accounts,
    ctx,
    {
      kind: "bank_account",
      routing_number: linked.routingNumber,
      account_number: linked.accountNumber,
      account_type: linked.accountType,
      name_on_account: linked.nameOnAccount,
    },
    ["bank_account"],
    linked,
  );
}
