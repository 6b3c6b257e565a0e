import { credentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { TransactionSql } from "postgres";
import {
  type Clock,
  createLogger,
  FailedPreconditionError,
  type Logger,
  NotFoundError,
  newId,
  type Sql,
  systemClock,
  UnavailableError,
} from "../../core/index.ts";
import {
  type AccountsServiceClient,
  CardType,
  CreateTransactionResponse,
  type FinancialAccount,
  FinancialAccountKind,
  type NotificationsServiceClient,
  type Transaction,
  TransactionsServiceClient,
  type TransactionsServiceServer,
  TransactionsServiceService,
} from "../../proto/index.ts";
import {
  callOrThrow,
  type HealthProbe,
  idempotent,
  idempotentStatement,
  unary,
  Violations,
} from "../grpc/index.ts";
import { creationEffects, type NewTransaction, newTransaction } from "./creation.ts";
import { checkDailyTotal, limitsOf, storeLimits, type TransactionLimits, validateLimits } from "./limits.ts";
import { type DbStatus, nextStep, type RailsOptions } from "./rails.ts";
import {
  type ChangeRow,
  DIRECTIONS,
  load,
  loadPage,
  METHODS,
  type TransactionRow,
  toTransaction,
} from "./rows.ts";

export interface TransactionsServiceDeps {
  sql: Sql;
  clock?: Clock;
  log?: Logger;
  /** Checks customers and financial accounts (CheckTransactable). Required to create transactions. */
  accounts?: AccountsServiceClient;
  /** Publishes `transaction.status_changed` webhook events; without it only in-process listeners hear. */
  notifications?: NotificationsServiceClient;
  rails?: RailsOptions;
  limits?: TransactionLimits;
}

/** What an in-process listener hears on every status change (after it committed). */
export interface TransactionStatusChangeEvent {
  transactionId: string;
  businessId: string;
  customerId: string;
  /** Empty when the transaction was not created by a workflow. */
  workflowId: string;
  externalId: string;
  /** Lower case: pending, processing, settled, cleared, declined, cancelled, returned, error. */
  status: string;
  previousStatus: string;
  /** NACHA return code (R01…) when returned, else empty. */
  returnCode: string;
  reason: string;
  changedAt: Date;
}

export interface TransactionsServiceHandle {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  /** Resolves when the service's database answers (its grpc.health.v1 status). */
  probe: HealthProbe;
  /** Subscribes to status changes; returns the unsubscribe function. */
  onStatusChange(listener: (event: TransactionStatusChangeEvent) => void): () => void;
  /** Runs the rails simulator and the event outbox now; resolves when done. */
  runDue(): Promise<void>;
  /** Stops the simulator loop and waits for its pass. Idempotent. Does not close sql or clients. */
  close(): Promise<void>;
}

/** The currencies we move; minor units per ISO 4217 are 2 for all of them. */
const CURRENCIES = new Set(["USD", "CAD", "EUR", "GBP"]);
/** How long a claimed outbox batch is held before another pass may take it over (real time). */
const OUTBOX_LEASE_SECONDS = 30;
/** Status changes claimed and published per outbox round (the claim's `limit`). */
const OUTBOX_BATCH = 20;

/** A claimed status change with the transaction it belongs to. */
type OutboxRow = ChangeRow & TransactionRow & { change_id: string };

/**
 * The transactions service: validated, idempotent money movement checked
 * against the accounts service (customer and account may transact, method
 * fits the account, ACH debits authorized), per-business limits, a
 * payment-rails simulator on the injected clock, a full status history, and
 * `transaction.status_changed` events published through the notifications
 * service from a durable outbox (and to in-process listeners).
 */
export function createTransactionsService(deps: TransactionsServiceDeps): TransactionsServiceHandle {
  const { sql } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger({ service: "transactions" });
  const rails: Required<RailsOptions> = {
    pendingMs: deps.rails?.pendingMs ?? 30_000,
    pushToCardSettleMs: deps.rails?.pushToCardSettleMs ?? 5_000,
    achSettleMs: deps.rails?.achSettleMs ?? 86_400_000,
    achSameDaySettleMs: deps.rails?.achSameDaySettleMs ?? 4 * 3_600_000,
    achReturnMs: deps.rails?.achReturnMs ?? 86_400_000,
    pollIntervalMs: deps.rails?.pollIntervalMs ?? 1_000,
  };
  const listeners = new Set<(e: TransactionStatusChangeEvent) => void>();

  /** One transaction's move to another status, as written by {@link transition}. */
  interface Move {
    id: string;
    status: DbStatus;
    previous_status: DbStatus;
    return_code: string;
    reason: string;
    failure_reason: string;
    next_action_at: Date | null;
    changed_at: Date;
  }

  function move(
    row: { id: string; status: DbStatus },
    to: DbStatus,
    opts: {
      returnCode?: string;
      reason?: string;
      nextInMs?: number | undefined;
      /** When this step was due; the next one is scheduled from it, so a clock jump catches up. */
      dueAt?: Date;
    },
  ): Move {
    const base = opts.dueAt?.getTime() ?? clock.now();
    const reason = opts.reason ?? "";
    return {
      id: row.id,
      status: to,
      previous_status: row.status,
      return_code: opts.returnCode ?? "",
      reason,
      failure_reason:
        to === "declined" || to === "error" || to === "returned" || to === "cancelled" ? reason : "",
      next_action_at: opts.nextInMs === undefined ? null : new Date(base + opts.nextInMs),
      changed_at: new Date(clock.now()),
    };
  }

  /**
   * Moves transactions (rows the caller holds locked) in one statement: each
   * update and the status change recording it, the changes in the given order.
   */
  async function transition(tx: TransactionSql, moves: Move[]): Promise<void> {
    if (moves.length === 0) return;
    const rows = moves.map((m, ord) => ({
      ...m,
      ord,
      next_action_at: m.next_action_at?.toISOString() ?? null,
      changed_at: m.changed_at.toISOString(),
    }));
    await tx`
      with v as (
        select * from jsonb_to_recordset(${tx.json(rows)})
          as v(ord int, id text, status text, previous_status text, return_code text, reason text,
               failure_reason text, next_action_at timestamptz, changed_at timestamptz)),
      moved as (
        update transactions.transactions t set status = v.status, updated_at = v.changed_at,
          next_action_at = v.next_action_at, return_code = v.return_code, failure_reason = v.failure_reason
        from v where t.id = v.id
        returning t.id)
      insert into transactions.status_changes (transaction_id, status, previous_status, return_code, reason, changed_at)
      select v.id, v.status, v.previous_status, v.return_code, v.reason, v.changed_at
      from v join moved on moved.id = v.id
      order by v.ord`;
    for (const m of moves) {
      log.info("transaction status changed", {
        transaction_id: m.id,
        status: m.status,
        previous_status: m.previous_status,
      });
    }
  }

  /** Advances every due transaction one step at a time until none is due. */
  async function advanceDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (await sql.begin(async (tx) => {
        const due = await tx<(TransactionRow & { next_action_at: Date })[]>`
          select * from transactions.transactions
          where next_action_at is not null and next_action_at <= ${new Date(clock.now())}
          order by next_action_at, id limit 50 for update skip locked`;
        const moves: Move[] = [];
        for (const row of due) {
          const step = nextStep(row, rails);
          if (step) moves.push(move(row, step.to, { ...step, dueAt: row.next_action_at }));
          else await tx`update transactions.transactions set next_action_at = null where id = ${row.id}`;
        }
        await transition(tx, moves);
        return due.length;
      })) as number;
      total += n;
      if (n === 0) return total;
    }
  }

  /**
   * Publishes unpublished status changes in order, at least once: claims a
   * batch with a short lease in one statement, publishes with no transaction
   * open, then marks the batch published in one statement and tells
   * in-process listeners (so they run after the changes committed). A failure
   * marks what got through and hands the rest of the batch back (retried next
   * pass); a node that dies mid-batch loses its lease. Receivers deduplicate on
   * the event's idempotency key (`txn-status:<change id>`).
   */
  async function pumpOutbox(): Promise<void> {
    for (;;) {
      const rows = await sql<OutboxRow[]>`
        with claimed as (
          update transactions.status_changes set claimed_until = now() + ${`${OUTBOX_LEASE_SECONDS} seconds`}::interval
          where id in (
            select s.id from transactions.status_changes s
            where s.published_at is null and (s.claimed_until is null or s.claimed_until < now())
              -- Never overtake an earlier change of the same transaction that another pass holds.
              -- "offset 0" keeps this a lookup per candidate on (transaction_id, id): as an anti-join
              -- the planner, misled by a young table's statistics, re-read the whole partial index
              -- (dead entries of published changes included) once per candidate.
              and not exists (
                select 1 from transactions.status_changes e
                where e.transaction_id = s.transaction_id and e.id < s.id
                  and e.published_at is null and e.claimed_until >= now()
                offset 0)
            order by s.id limit 20 for update skip locked)
          returning *)
        select c.id as change_id, c.status, c.previous_status, c.return_code, c.reason, c.changed_at,
               t.id, t.business_id, t.customer_id, t.financial_account_id, t.workflow_id, t.external_id,
               t.method, t.direction, t.amount_minor, t.currency
        from claimed c join transactions.transactions t on t.id = c.transaction_id
        order by c.id`;
      let sent = 0;
      let failure: { err: unknown } | undefined;
      for (const r of rows) {
        try {
          await publish(r);
        } catch (err) {
          failure = { err };
          break;
        }
        sent++;
      }
      if (rows.length > 0) {
        // Bigint ids as text: postgres.js cannot send an array of BigInts.
        const ids = rows.map((r) => String(r.change_id));
        // Listeners hear a change once, from the pass that marks it: a slow pass whose lease lapsed may
        // find another pass published (and told) it meanwhile.
        const marked = await sql<{ id: bigint; published_at: Date | null }[]>`
          update transactions.status_changes
          set published_at = case when id = any(${ids.slice(0, sent)}::bigint[]) then ${new Date(clock.now())}::timestamptz end,
              claimed_until = null
          where id = any(${ids}::bigint[]) and published_at is null
          returning id, published_at`;
        const mine = new Set(marked.filter((m) => m.published_at !== null).map((m) => String(m.id)));
        for (const r of rows.slice(0, sent)) if (mine.has(String(r.change_id))) tell(r);
      }
      if (failure) throw failure.err;
      // A short batch took all there was: a change committed since then asked for a pass of its own.
      if (rows.length < OUTBOX_BATCH) return;
    }
  }

  function tell(r: OutboxRow): void {
    const event: TransactionStatusChangeEvent = {
      transactionId: r.id,
      businessId: r.business_id,
      customerId: r.customer_id,
      workflowId: r.workflow_id,
      externalId: r.external_id,
      status: r.status,
      previousStatus: r.previous_status,
      returnCode: r.return_code,
      reason: r.reason,
      changedAt: r.changed_at,
    };
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        log.error("status change listener failed", {
          error: err instanceof Error ? err.name : "unknown",
        });
      }
    }
  }

  async function publish(r: OutboxRow): Promise<void> {
    if (!deps.notifications) return;
    await callOrThrow(deps.notifications, "publishEvent", {
      businessId: r.business_id,
      type: "transaction.status_changed",
      workflowId: r.workflow_id,
      idempotencyKey: `txn-status:${r.change_id}`,
      payloadJson: JSON.stringify({
        transaction_id: r.id,
        customer_id: r.customer_id,
        financial_account_id: r.financial_account_id,
        workflow_id: r.workflow_id,
        external_id: r.external_id,
        method: r.method,
        direction: r.direction,
        amount: { amount_minor: Number(r.amount_minor), currency: r.currency },
        status: r.status,
        previous_status: r.previous_status,
        return_code: r.return_code,
        reason: r.reason,
        changed_at: r.changed_at.toISOString(),
      }),
    });
  }

  // One pass at a time; a request for a pass during one runs another after it.
  let pass: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;
  let closed = false;
  function runDue(): Promise<void> {
    if (queued) return queued;
    const next = pass.then(async () => {
      queued = undefined;
      try {
        await advanceDue();
        await pumpOutbox();
      } catch (err) {
        log.warn("transactions pass failed; will retry", {
          error: err instanceof Error ? err.name : "unknown",
          error_code: (err as { code?: unknown }).code,
        });
      }
    });
    queued = next;
    pass = next;
    return next;
  }
  const timer = setInterval(() => {
    if (!closed) void runDue();
  }, rails.pollIntervalMs);
  timer.unref();
  const maybeManual = clock as Clock & { onChange?: (l: (now: number) => void) => () => void };
  const unsubscribeClock = maybeManual.onChange?.(() => {
    if (!closed) void runDue();
  });

  /**
   * The stored answer of a finished earlier CreateTransaction with this key,
   * if any: an idempotent statement allowed to write nothing replays a stored
   * response (or refuses the key's reuse) and otherwise says so. One read.
   */
  async function storedAnswer(replayable: {
    schema: string;
    businessId: string;
    key: string;
    method: string;
    request: unknown;
    codec: typeof CreateTransactionResponse;
  }): Promise<CreateTransactionResponse | undefined> {
    const none = new Error("no stored answer");
    try {
      return await idempotentStatement(sql, {
        ...replayable,
        allowed: sql`false`,
        effects: sql`nothing as (select from claim)`,
        response: {},
        refused: () => none,
        awaitCommitting: false,
      });
    } catch (err) {
      if (err === none) return undefined;
      throw err;
    }
  }

  /** The financial account if the customer and account may make this kind of transaction; throws otherwise. */
  async function transactable(
    accounts: AccountsServiceClient,
    req: { businessId: string; customerId: string; financialAccountId: string },
    method: "push_to_card" | "ach_credit" | "ach_debit",
  ): Promise<FinancialAccount> {
    const check = await callOrThrow(accounts, "checkTransactable", {
      businessId: req.businessId,
      customerId: req.customerId,
      financialAccountId: req.financialAccountId,
    });
    if (!check.ok) throw new FailedPreconditionError(check.reason, `cannot transact: ${check.reason}`);
    const fa = check.financialAccount!;
    const isCard = fa.kind === FinancialAccountKind.FINANCIAL_ACCOUNT_KIND_CARD;
    if (method === "push_to_card") {
      if (!isCard || fa.details?.$case !== "card" || fa.details.value.cardType !== CardType.CARD_TYPE_DEBIT)
        throw new FailedPreconditionError("debit_card_required", "push-to-card needs a debit card");
    } else if (isCard) {
      throw new FailedPreconditionError("bank_account_required", "ACH needs a bank account");
    }
    if (method === "ach_debit" && !check.achDebitAuthorized) {
      throw new FailedPreconditionError(
        "ach_debit_not_authorized",
        "an ACH debit needs the customer's accepted debit authorization (scope ach_debit_authorization)",
      );
    }
    return fa;
  }

  const impl: TransactionsServiceServer = {
    createTransaction: unary(async (req) => {
      // Read first so the amount is checked with the other fields (a malformed id just finds the defaults).
      const limits = await limitsOf(sql, deps.limits, req.businessId);
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("customer_id", req.customerId, "cus");
      v.id("financial_account_id", req.financialAccountId, "fa");
      const direction = DIRECTIONS[req.direction];
      const method = METHODS[req.method];
      if (!direction) v.add("direction", "must be SEND or REQUEST");
      if (!method) v.add("method", "must be PUSH_TO_CARD, ACH_CREDIT or ACH_DEBIT");
      if (direction && method) {
        if (direction === "send" && method === "ach_debit")
          v.add("method", "ACH_DEBIT requests funds; use REQUEST");
        if (direction === "request" && method !== "ach_debit")
          v.add("method", "requesting funds needs ACH_DEBIT");
      }
      if (!req.amount) v.add("amount", "is required");
      else {
        const { amountMinor, currency } = req.amount;
        const limit = limits.maxAmountMinor;
        if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0) {
          v.add("amount.amount_minor", "must be a positive whole number of minor units");
        } else if (amountMinor > limit)
          v.add(
            "amount.amount_minor",
            `is over this business's limit of ${limit} minor units per transaction`,
          );
        if (!CURRENCIES.has(currency)) v.add("amount.currency", "must be one of USD, CAD, EUR, GBP");
      }
      if (req.sameDayAch && method === "push_to_card") v.add("same_day_ach", "is for ACH only");
      v.idempotencyKey("idempotency_key", req.idempotencyKey, { required: true });
      if (req.workflowId) v.id("workflow_id", req.workflowId, "wf");
      v.text("external_id", req.externalId, { max: 100, optional: true });
      v.throwIfAny();
      const accounts = deps.accounts;
      if (!accounts)
        throw new UnavailableError("accounts_unconfigured", "the accounts service is not configured");
      const { idempotencyKey, sameDayAch, ...rest } = req;
      const replayable = {
        schema: "transactions",
        businessId: req.businessId,
        key: idempotencyKey,
        method: "CreateTransaction",
        // Unset and false ask for the same thing: a retry may send either.
        request: sameDayAch ? { ...rest, sameDayAch } : rest,
        codec: CreateTransactionResponse,
      };
      const build = (fa: FinancialAccount) =>
        newTransaction(
          {
            ...req,
            id: newId("txn", clock.now()),
            direction: direction!,
            method: method!,
            amountMinor: req.amount!.amountMinor,
            currency: req.amount!.currency,
            sameDayAch: req.sameDayAch === true,
          },
          fa,
          new Date(clock.now()),
          rails.pendingMs,
        );
      const written = (t: NewTransaction) => {
        log.info("transaction created", { business_id: req.businessId, transaction_id: t.row.id, method });
        void runDue();
      };
      if (limits.dailyAmountMinor > 0) {
        // The day's total is summed under a per-business lock, which takes a transaction of its own.
        return idempotent(
          sql,
          {
            ...replayable,
            // Asked before the transaction opens: no row lock or connection is held across the network.
            prepare: () => transactable(accounts, req, method!),
          },
          async (tx, fa, committed) => {
            await checkDailyTotal(tx, limits, req.amount!.amountMinor, clock.now());
            const t = build(fa);
            await tx`with claim as (select), ${creationEffects(tx, t)} select`;
            committed(() => written(t));
            return { transaction: toTransaction(t.row, t.history) };
          },
        );
      }
      // A finished earlier attempt answers without asking accounts again.
      const stored = await storedAnswer(replayable);
      if (stored) return stored;
      // Asked with no transaction open; the key is claimed in the statement that writes the transaction.
      const t = build(await transactable(accounts, req, method!));
      return idempotentStatement(sql, {
        ...replayable,
        allowed: sql`true`,
        effects: creationEffects(sql, t),
        response: { transaction: toTransaction(t.row, t.history) },
        refused: () => new UnavailableError("transaction_not_created", "the transaction was not created"),
        onWritten: () => written(t),
      });
    }),

    setBusinessLimits: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      validateLimits(v, req);
      v.throwIfAny();
      await storeLimits(sql, req, new Date(clock.now()));
      log.info("business limits set", {
        business_id: req.businessId,
        max_amount_minor: req.maxAmountMinor,
        daily_amount_minor: req.dailyAmountMinor,
      });
      return { limits: await limitsOf(sql, deps.limits, req.businessId) };
    }),

    getBusinessLimits: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.throwIfAny();
      return { limits: await limitsOf(sql, deps.limits, req.businessId) };
    }),

    getTransaction: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("transaction_id", req.transactionId, "txn");
      v.throwIfAny();
      return { transaction: await load(sql, req.businessId, req.transactionId) };
    }),

    cancelTransaction: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("transaction_id", req.transactionId, "txn");
      v.text("reason", req.reason, { max: 500, optional: true });
      v.throwIfAny();
      const res = (await sql.begin(async (tx) => {
        const [row] = await tx<TransactionRow[]>`
          select * from transactions.transactions
          where id = ${req.transactionId} and business_id = ${req.businessId} for update`;
        if (!row) throw new NotFoundError("transaction", req.transactionId);
        if (row.status !== "cancelled") {
          if (row.status !== "pending") {
            throw new FailedPreconditionError(
              "not_cancellable",
              `only a pending transaction can be cancelled; this one is ${row.status}`,
            );
          }
          await transition(tx, [
            move(row, "cancelled", { reason: req.reason.trim() || "cancelled by the business" }),
          ]);
        }
        return { transaction: await load(tx, req.businessId, req.transactionId) };
      })) as { transaction: Transaction };
      void runDue();
      return res;
    }),

    listTransactions: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      if (req.customerId) v.id("customer_id", req.customerId, "cus");
      v.page(req.page, "txn");
      v.throwIfAny();
      const page = await loadPage(sql, req.businessId, {
        customerId: req.customerId,
        before: req.page?.pageToken ?? "",
        limit: req.page?.pageSize || 50,
      });
      return {
        transactions: page.transactions,
        nextPageToken: page.more ? (page.transactions.at(-1)?.id ?? "") : "",
      };
    }),
  };

  return {
    definition: TransactionsServiceService as unknown as ServiceDefinition,
    implementation: impl as unknown as UntypedServiceImplementation,
    probe: async () => {
      await sql`select 1`;
    },
    onStatusChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    runDue: () => runDue(),
    async close() {
      closed = true;
      clearInterval(timer);
      unsubscribeClock?.();
      await pass;
    },
  };
}

/** A client of the transactions service (insecure channel: loopback or a private network). */
export function createTransactionsClient(address: string): TransactionsServiceClient {
  return new TransactionsServiceClient(address, credentials.createInsecure());
}
