import type { TransactionSql } from "postgres";
import {
  type Clock,
  FailedPreconditionError,
  type Keyring,
  type Logger,
  NotFoundError,
  newId,
  numberFingerprint,
  olderKeyIds,
  type Sql,
  sealNumber,
} from "../../core/index.ts";
import {
  type AccountsServiceServer,
  AddFinancialAccountResponse,
  BankAccountType,
  CardType,
  DisconnectFinancialDataResponse,
  type FinancialAccount,
  FinancialAccountKind,
  FinancialAccountSource,
  FinancialAccountStatus,
  SetFinancialAccountStatusResponse,
} from "../../proto/index.ts";
import { idempotentRequest, idempotentStatement, unary, Violations } from "../grpc/index.ts";
import {
  cardBrand,
  digitsOf,
  isLuhnValid,
  isValidRoutingNumber,
  maskLast4,
  parseExpiry,
} from "./instruments.ts";
import { customerIds } from "./validation.ts";

/** The document-acceptance scope that authorizes ACH debits from the customer. */
export const ACH_DEBIT_AUTHORIZATION_SCOPE = "ach_debit_authorization";

type Db = Sql | TransactionSql;
type FaStatus = "active" | "suspended" | "disconnected";

interface FaRow {
  id: string;
  business_id: string;
  customer_id: string;
  kind: "bank_account" | "card";
  status: FaStatus;
  source: "manual" | "plaid" | "finicity";
  name: string;
  number_last4: string;
  routing_number: string;
  account_type: string;
  name_on_account: string;
  card_type: string;
  card_brand: string;
  expiry_month: number;
  expiry_year: number;
  provider_account_id: string;
  is_default: boolean;
  created_at: Date;
  updated_at: Date;
}

/**
 * Columns safe to read (never the ciphertext) of `accounts.financial_accounts f`,
 * with its status history as `history` (JSON, oldest first): one read per account.
 */
const FA_COLUMNS = `${[
  "id",
  "business_id",
  "customer_id",
  "kind",
  "status",
  "source",
  "name",
  "number_last4",
  "routing_number",
  "account_type",
  "name_on_account",
  "card_type",
  "card_brand",
  "expiry_month",
  "expiry_year",
  "provider_account_id",
  "is_default",
  "created_at",
  "updated_at",
]
  .map((c) => `f.${c}`)
  .join(", ")},
  coalesce((select json_agg(json_build_object('status', h.status, 'reason', h.reason, 'changed_at', h.changed_at)
                            order by h.id)
            from accounts.financial_account_status_history h where h.financial_account_id = f.id), '[]') as history`;

type Nullable<T> = { [K in keyof T]: T[K] | null };

interface HistoryJson {
  status: FaStatus;
  reason: string;
  changed_at: string;
}

function faFromRead(r: FaRow & { history: HistoryJson[] }): FinancialAccount {
  return faFromRow(
    r,
    r.history.map((h) => ({ ...h, changed_at: new Date(h.changed_at) })),
  );
}

const FA_STATUS = {
  active: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_ACTIVE,
  suspended: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED,
  disconnected: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_DISCONNECTED,
} as const;
const SOURCES: Partial<Record<FinancialAccountSource, FaRow["source"]>> = {
  [FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL]: "manual",
  [FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_PLAID]: "plaid",
  [FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_FINICITY]: "finicity",
};
const SOURCE_FROM_DB = {
  manual: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
  plaid: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_PLAID,
  finicity: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_FINICITY,
} as const;
const BANK_TYPES: Partial<Record<BankAccountType, string>> = {
  [BankAccountType.BANK_ACCOUNT_TYPE_CHECKING]: "checking",
  [BankAccountType.BANK_ACCOUNT_TYPE_SAVINGS]: "savings",
};
const CARD_TYPES: Partial<Record<CardType, string>> = {
  [CardType.CARD_TYPE_DEBIT]: "debit",
  [CardType.CARD_TYPE_CREDIT]: "credit",
};

function faFromRow(
  r: FaRow,
  history: { status: FaStatus; reason: string; changed_at: Date }[],
): FinancialAccount {
  return {
    id: r.id,
    businessId: r.business_id,
    customerId: r.customer_id,
    kind:
      r.kind === "card"
        ? FinancialAccountKind.FINANCIAL_ACCOUNT_KIND_CARD
        : FinancialAccountKind.FINANCIAL_ACCOUNT_KIND_BANK_ACCOUNT,
    status: FA_STATUS[r.status],
    source: SOURCE_FROM_DB[r.source],
    name: r.name,
    numberLast4: r.number_last4,
    numberMasked: maskLast4(r.number_last4),
    isDefault: r.is_default,
    details:
      r.kind === "card"
        ? {
            $case: "card",
            value: {
              cardType: r.card_type === "credit" ? CardType.CARD_TYPE_CREDIT : CardType.CARD_TYPE_DEBIT,
              expiryMonth: r.expiry_month,
              expiryYear: r.expiry_year,
              brand: r.card_brand,
            },
          }
        : {
            $case: "bankAccount",
            value: {
              routingNumber: r.routing_number,
              accountType:
                r.account_type === "savings"
                  ? BankAccountType.BANK_ACCOUNT_TYPE_SAVINGS
                  : BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
              nameOnAccount: r.name_on_account,
            },
          },
    providerAccountId: r.provider_account_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    statusHistory: history.map((h) => ({
      status: FA_STATUS[h.status],
      reason: h.reason,
      changedAt: h.changed_at,
    })),
  };
}

export interface FinancialContext {
  sql: Sql;
  clock: Clock;
  log: Logger;
  keyring: Keyring;
}

function isOneDefaultViolation(e: unknown): boolean {
  const pg = e as { code?: string; constraint_name?: string };
  return pg.code === "23505" && pg.constraint_name === "financial_accounts_one_default";
}

/** Throws NOT_FOUND unless the customer exists in the business and is not deleted. */
export async function requireCustomer(
  db: Db,
  businessId: string,
  customerId: string,
  opts: { lock?: boolean } = {},
): Promise<{ status: "active" | "suspended" }> {
  const [row] = opts.lock
    ? await db<{ status: "active" | "suspended" }[]>`
        select status from accounts.customers
        where id = ${customerId} and business_id = ${businessId} and deleted_at is null for update`
    : await db<{ status: "active" | "suspended" }[]>`
        select status from accounts.customers
        where id = ${customerId} and business_id = ${businessId} and deleted_at is null`;
  if (!row) throw new NotFoundError("customer", customerId);
  return row;
}

/** Erases the numbers and names of the customer's accounts; returns how many changed. */
export async function disconnectAccounts(
  db: Db,
  customerId: string,
  at: Date,
  reason: string,
): Promise<number> {
  const rows = await db<{ id: string }[]>`
    update accounts.financial_accounts set status = 'disconnected', number_ciphertext = null, key_id = null,
      name_on_account = '', provider_account_id = '', is_default = false, updated_at = ${at}
    where customer_id = ${customerId} and status <> 'disconnected' returning id`;
  for (const r of rows) {
    await db`insert into accounts.financial_account_status_history (financial_account_id, status, reason, changed_at)
      values (${r.id}, 'disconnected', ${reason}, ${at})`;
  }
  return rows.length;
}

/** The financial-account and customer-erasure RPCs. */
export function financialHandlers(
  ctx: FinancialContext,
): Pick<
  AccountsServiceServer,
  | "addFinancialAccount"
  | "getFinancialAccount"
  | "listFinancialAccounts"
  | "setFinancialAccountStatus"
  | "setDefaultFinancialAccount"
  | "disconnectFinancialData"
  | "checkTransactable"
> {
  const { sql, clock, log, keyring } = ctx;
  const now = () => new Date(clock.now());

  async function loadAccount(db: Db, businessId: string, id: string): Promise<FinancialAccount> {
    const [row] = await db<(FaRow & { history: HistoryJson[] })[]>`
      select ${db.unsafe(FA_COLUMNS)} from accounts.financial_accounts f
      where id = ${id} and business_id = ${businessId}
        and exists (select 1 from accounts.customers c where c.id = f.customer_id and c.deleted_at is null)`;
    if (!row) throw new NotFoundError("financial account", id);
    return faFromRead(row);
  }

  function accountIds(v: Violations, businessId: string, accountId: string): void {
    v.id("business_id", businessId, "biz");
    v.id("financial_account_id", accountId, "fa");
  }

  return {
    addFinancialAccount: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      v.text("name", req.name, { max: 100, optional: true });
      const source = SOURCES[req.source];
      if (!source) v.add("source", "must be MANUAL, PLAID or FINICITY");
      if (source && source !== "manual") v.text("provider_account_id", req.providerAccountId, { max: 200 });
      else if (req.providerAccountId) v.add("provider_account_id", "is only for bank-link sources");
      let number = "";
      let expiry: { month: number; year: number } | undefined;
      const d = req.details;
      if (!d) v.add("details", "one of bank_account or card is required");
      else if (d.$case === "bankAccount") {
        const b = d.value;
        if (!isValidRoutingNumber(b.routingNumber))
          v.add("bank_account.routing_number", "must be a 9-digit ABA routing number with a valid checksum");
        number = digitsOf(b.accountNumber);
        if (!/^\d{4,17}$/.test(number)) v.add("bank_account.account_number", "must be 4 to 17 digits");
        if (!BANK_TYPES[b.accountType]) v.add("bank_account.account_type", "must be CHECKING or SAVINGS");
        v.text("bank_account.name_on_account", b.nameOnAccount, { max: 100 });
      } else {
        const c = d.value;
        number = digitsOf(c.number);
        if (!/^\d{12,19}$/.test(number) || !isLuhnValid(number))
          v.add("card.number", "must be a valid card number (12 to 19 digits, Luhn check)");
        const e = parseExpiry(c.expiry, clock.now());
        if ("error" in e) v.add("card.expiry", e.error);
        else expiry = e;
        if (!CARD_TYPES[c.cardType]) v.add("card.card_type", "must be DEBIT or CREDIT");
      }
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      // The request hash must not be a hash of the bare number: use a keyed fingerprint.
      const hashed = (request: Omit<typeof req, "idempotencyKey">, keyId = keyring.currentKeyId) =>
        d?.$case === "bankAccount"
          ? {
              ...request,
              details: {
                ...d,
                value: { ...d.value, accountNumber: numberFingerprint(keyring, number, keyId) },
              },
            }
          : d?.$case === "card"
            ? {
                ...request,
                details: { ...d, value: { ...d.value, number: numberFingerprint(keyring, number, keyId) } },
              }
            : request;
      const id = newId("fa", clock.now());
      const at = now();
      const sealed = sealNumber(keyring, number, id);
      const bank = d!.$case === "bankAccount" ? d!.value : undefined;
      const card = d!.$case === "card" ? d!.value : undefined;
      const r: FaRow = {
        id,
        business_id: req.businessId,
        customer_id: req.customerId,
        kind: card ? "card" : "bank_account",
        status: "active",
        source: source!,
        name: req.name.trim(),
        number_last4: number.slice(-4),
        routing_number: bank?.routingNumber ?? "",
        account_type: bank ? (BANK_TYPES[bank.accountType] ?? "") : "",
        name_on_account: bank?.nameOnAccount.trim() ?? "",
        card_type: card ? (CARD_TYPES[card.cardType] ?? "") : "",
        card_brand: card ? cardBrand(number) : "",
        expiry_month: expiry?.month ?? 0,
        expiry_year: expiry?.year ?? 0,
        provider_account_id: req.providerAccountId.trim(),
        is_default: false,
        created_at: at,
        updated_at: at,
      };
      // What the statement writes is the answer: no read-back. Whether the account becomes the
      // default is decided in the statement, so both answers go with it.
      const answer = (isDefault: boolean): AddFinancialAccountResponse => ({
        financialAccount: faFromRow({ ...r, is_default: isDefault }, [
          { status: "active", reason: "added", changed_at: at },
        ]),
      });
      // The customer's row is locked first (as every change to its accounts does), so a deletion
      // either waits for this account and disconnects it, or wins and this is refused. `old_default`
      // locks and re-checks the default: a concurrent change to it is seen.
      const isDefault = sql`(${req.makeDefault}::boolean or not exists (select from old_default))`;
      const { idempotencyKey, ...request } = req;
      const statement = () =>
        idempotentStatement(sql, {
          schema: "accounts",
          businessId: req.businessId,
          key: idempotencyKey,
          method: "AddFinancialAccount",
          request: hashed(request),
          sameAs: olderKeyIds(keyring).map((keyId) => hashed(request, keyId)),
          codec: AddFinancialAccountResponse,
          before: sql`
            customer as (
              select id from accounts.customers
              where id = ${req.customerId} and business_id = ${req.businessId} and deleted_at is null for update
            ),
            old_default as (
              select id from accounts.financial_accounts
              where customer_id = ${req.customerId} and is_default and exists (select from customer) for update
            )`,
          allowed: sql`exists (select from customer)`,
          effects: sql`
            off as (
              update accounts.financial_accounts set is_default = false, updated_at = ${at}
              where id in (select id from old_default) and ${req.makeDefault}::boolean and exists (select from claim)
              returning id
            ),
            fa as (
              insert into accounts.financial_accounts
                (id, business_id, customer_id, kind, status, source, name, number_last4, number_ciphertext, key_id,
                 routing_number, account_type, name_on_account, card_type, card_brand, expiry_month, expiry_year,
                 provider_account_id, is_default, created_at, updated_at)
              select ${r.id}, ${r.business_id}, ${r.customer_id}, ${r.kind}, 'active', ${r.source}, ${r.name},
                     ${r.number_last4}, ${sealed.ciphertext}, ${sealed.keyId}, ${r.routing_number},
                     ${r.account_type}, ${r.name_on_account}, ${r.card_type}, ${r.card_brand}, ${r.expiry_month},
                     ${r.expiry_year}, ${r.provider_account_id}, ${isDefault}, ${at}, ${at}
              from claim
              -- after the old default is cleared: one default per customer is a unique index
              where (select count(*) from off) >= 0
              returning id
            ),
            history as (
              insert into accounts.financial_account_status_history (financial_account_id, status, reason, changed_at)
              select id, 'active', 'added', ${at} from fa
            )`,
          response: answer(false),
          alternative: { when: isDefault, response: answer(true) },
          refused: () => new NotFoundError("customer", req.customerId),
          onWritten: () =>
            log.info("financial account added", {
              business_id: req.businessId,
              customer_id: req.customerId,
              financial_account_id: id,
              kind: r.kind,
              source,
              last4: r.number_last4,
            }),
        });
      for (let attempt = 1; ; attempt++) {
        try {
          return await statement();
        } catch (e) {
          // A default added concurrently (after this statement's snapshot) collides on the unique
          // index: nothing was written, and a new attempt sees it.
          if (attempt >= 5 || !isOneDefaultViolation(e)) throw e;
        }
      }
    }),

    getFinancialAccount: unary(async (req) => {
      const v = new Violations();
      accountIds(v, req.businessId, req.financialAccountId);
      v.throwIfAny();
      return { financialAccount: await loadAccount(sql, req.businessId, req.financialAccountId) };
    }),

    listFinancialAccounts: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      v.throwIfAny();
      // One read: the customer (NOT_FOUND when deleted or another business's) and its accounts.
      const rows = await sql<(Nullable<FaRow> & { history: HistoryJson[] })[]>`
        select ${sql.unsafe(FA_COLUMNS)}
        from accounts.customers c
        left join accounts.financial_accounts f on f.customer_id = c.id and f.business_id = c.business_id
        where c.id = ${req.customerId} and c.business_id = ${req.businessId} and c.deleted_at is null
        order by f.id`;
      if (rows.length === 0) throw new NotFoundError("customer", req.customerId);
      return {
        financialAccounts: rows
          .filter((r): r is FaRow & { history: HistoryJson[] } => r.id !== null)
          .map(faFromRead),
      };
    }),

    setFinancialAccountStatus: unary(async (req) => {
      const v = new Violations();
      accountIds(v, req.businessId, req.financialAccountId);
      const status =
        req.status === FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_ACTIVE
          ? "active"
          : req.status === FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED
            ? "suspended"
            : undefined;
      if (!status)
        v.add("status", "must be FINANCIAL_ACCOUNT_STATUS_ACTIVE or FINANCIAL_ACCOUNT_STATUS_SUSPENDED");
      v.text("reason", req.reason, { max: 500, optional: status !== "suspended" });
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      return idempotentRequest(
        sql,
        "accounts",
        req,
        { method: "SetFinancialAccountStatus", codec: SetFinancialAccountStatusResponse },
        async (tx, committed) => {
          const current = await loadAccount(tx, req.businessId, req.financialAccountId);
          const [row] = await tx<{ status: FaStatus }[]>`
          select status from accounts.financial_accounts where id = ${current.id} for update`;
          if (row?.status === "disconnected") {
            throw new FailedPreconditionError(
              "financial_account_disconnected",
              "the financial account was disconnected; add it again",
            );
          }
          if (row?.status !== status) {
            const at = now();
            await tx`update accounts.financial_accounts set status = ${status!}, updated_at = ${at}
            where id = ${current.id}`;
            await tx`insert into accounts.financial_account_status_history
              (financial_account_id, status, reason, changed_at)
            values (${current.id}, ${status!}, ${req.reason.trim()}, ${at})`;
            committed(() =>
              log.info("financial account status changed", {
                business_id: req.businessId,
                financial_account_id: current.id,
                status,
              }),
            );
          }
          return { financialAccount: await loadAccount(tx, req.businessId, current.id) };
        },
      );
    }),

    setDefaultFinancialAccount: unary(async (req) => {
      const v = new Violations();
      accountIds(v, req.businessId, req.financialAccountId);
      v.throwIfAny();
      return sql.begin(async (tx) => {
        const current = await loadAccount(tx, req.businessId, req.financialAccountId);
        if (current.status === FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_DISCONNECTED) {
          throw new FailedPreconditionError(
            "financial_account_disconnected",
            "a disconnected account cannot be the default",
          );
        }
        if (!current.isDefault) {
          const at = now();
          await requireCustomer(tx, req.businessId, current.customerId, { lock: true });
          await tx`update accounts.financial_accounts set is_default = false, updated_at = ${at}
            where customer_id = ${current.customerId} and is_default`;
          await tx`update accounts.financial_accounts set is_default = true, updated_at = ${at}
            where id = ${current.id}`;
        }
        return { financialAccount: await loadAccount(tx, req.businessId, current.id) };
      }) as never;
    }),

    disconnectFinancialData: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      return idempotentRequest(
        sql,
        "accounts",
        req,
        { method: "DisconnectFinancialData", codec: DisconnectFinancialDataResponse },
        async (tx, committed) => {
          await requireCustomer(tx, req.businessId, req.customerId, { lock: true });
          const disconnected = await disconnectAccounts(
            tx,
            req.customerId,
            now(),
            "financial data disconnected",
          );
          committed(() =>
            log.info("financial data disconnected", {
              business_id: req.businessId,
              customer_id: req.customerId,
              accounts: disconnected,
            }),
          );
          return { disconnected };
        },
      );
    }),

    checkTransactable: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      v.id("financial_account_id", req.financialAccountId, "fa");
      v.throwIfAny();
      // One read: the customer, the account (if it is the customer's) and the debit authorization.
      const [row] = await sql<
        ({ customer_status: "active" | "suspended"; ach: boolean } & FaRow & { history: HistoryJson[] })[]
      >`
        select c.status as customer_status, ${sql.unsafe(FA_COLUMNS)},
          exists (select from accounts.document_acceptances
                  where business_id = ${req.businessId} and customer_id = ${req.customerId}
                    and scope = ${ACH_DEBIT_AUTHORIZATION_SCOPE}) as ach
        from accounts.customers c
        left join accounts.financial_accounts f
          on f.id = ${req.financialAccountId} and f.business_id = ${req.businessId} and f.customer_id = c.id
        where c.id = ${req.customerId} and c.business_id = ${req.businessId} and c.deleted_at is null`;
      if (!row) throw new NotFoundError("customer", req.customerId);
      if (!row.id) throw new NotFoundError("financial account", req.financialAccountId);
      const account = faFromRead(row);
      const reason =
        row.customer_status !== "active"
          ? "customer_suspended"
          : account.status === FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED
            ? "financial_account_suspended"
            : account.status === FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_DISCONNECTED
              ? "financial_account_disconnected"
              : "";
      return { ok: reason === "", reason, financialAccount: account, achDebitAuthorized: row.ach };
    }),
  };
}
