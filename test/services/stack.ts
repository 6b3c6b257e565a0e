import { randomBytes } from "node:crypto";
import { type sendUnaryData, status, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { type Clock, connect, type Logger, ManualClock, type Sql } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  BankAccountType,
  CardType,
  type CreateTransactionRequest,
  FinancialAccountSource,
  type IndividualProfile,
  type NotificationsServiceClient,
  TransactionDirection,
  TransactionMethod,
  type TransactionsServiceClient,
} from "../../proto/index.ts";
import {
  createAccountsClient,
  createAccountsService,
  type Keyring,
  migrateAccounts,
} from "../../services/accounts/index.ts";
import { call, type ListeningServer, listen } from "../../services/grpc/index.ts";
import {
  createNotificationsClient,
  createNotificationsService,
  migrateNotifications,
  type NotificationsServiceHandle,
  OutboxEmailSender,
  OutboxSmsSender,
} from "../../services/notifications/index.ts";
import {
  createTransactionsClient,
  createTransactionsService,
  migrateTransactions,
  type RailsOptions,
  type TransactionLimits,
  type TransactionStatusChangeEvent,
  type TransactionsServiceHandle,
} from "../../services/transactions/index.ts";
import { createTestDatabase } from "../infra/index.ts";

/** A valid individual profile; `over` replaces fields. */
export const person = (over: Partial<IndividualProfile> = {}): IndividualProfile => ({
  firstName: "Ada",
  lastName: "Lovelace",
  email: "ada@example.com",
  phone: "+15551234567",
  addresses: [],
  ...over,
});

export interface AccountsStack {
  sql: Sql;
  clock: ManualClock;
  server: ListeningServer;
  client: AccountsServiceClient;
  keyring: Keyring;
  /**
   * Holds the service's CheckTransactable calls until `release()`;
   * `waiting()` says how many calls are held.
   */
  holdCheckTransactable(): { release(): void; waiting(): number };
  /** A new business; returns its id. */
  business(name?: string): Promise<string>;
  /** A new individual customer of `businessId`; returns its id. */
  customer(businessId: string, profile?: IndividualProfile): Promise<string>;
  /** Adds a bank account (routing 011000015, checking) with `accountNumber`; returns its id. */
  bank(businessId: string, customerId: string, accountNumber: string): Promise<string>;
  /** Adds a card expiring 12/29; returns its id. */
  card(businessId: string, customerId: string, number: string, cardType?: CardType): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real accounts service on its own test database (migrated) with an
 * encryption keyring, on a ManualClock, and a gRPC client of it.
 */
export async function startAccounts(
  opts: { log?: Logger; db?: { url: string } } = {},
): Promise<AccountsStack> {
  const db = opts.db ? undefined : await createTestDatabase();
  const sql = connect(opts.db?.url ?? db!.url);
  await migrateAccounts(sql);
  const clock = new ManualClock(Date.UTC(2025, 5, 16, 15));
  const keyring: Keyring = { currentKeyId: "k", keys: { k: randomBytes(32) } };
  const service = createAccountsService({ sql, clock, keyring, ...(opts.log ? { log: opts.log } : {}) });
  let hold: Promise<void> | undefined;
  let held = 0;
  const impl = service.implementation as UntypedServiceImplementation & Record<string, unknown>;
  const check = impl.checkTransactable as (call: unknown, cb: unknown) => void;
  impl.checkTransactable = (c: unknown, cb: unknown) => {
    if (!hold) return check(c, cb);
    held++;
    void hold.then(() => {
      held--;
      check(c, cb);
    });
  };
  const server = await listen([service]);
  const client = createAccountsClient(server.address);
  const add = async (businessId: string, customerId: string, details: unknown) =>
    (
      await call(client, "addFinancialAccount", {
        businessId,
        customerId,
        idempotencyKey: "",
        name: "",
        source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
        providerAccountId: "",
        makeDefault: false,
        details: details as never,
      })
    ).financialAccount!.id;
  return {
    sql,
    clock,
    server,
    client,
    keyring,
    holdCheckTransactable() {
      let release = () => {};
      hold = new Promise<void>((r) => {
        release = () => {
          hold = undefined;
          r();
        };
      });
      return { release, waiting: () => held };
    },
    business: async (name = "Acme") =>
      (await call(client, "createBusiness", { name, parentBusinessId: "", idempotencyKey: "" })).business!.id,
    customer: async (businessId, profile = person()) =>
      (
        await call(client, "createCustomer", {
          businessId,
          idempotencyKey: "",
          externalId: "",
          profile: { $case: "individual", value: profile },
        })
      ).customer!.id,
    bank: (businessId, customerId, accountNumber) =>
      add(businessId, customerId, {
        $case: "bankAccount",
        value: {
          routingNumber: "011000015",
          accountNumber,
          accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
          nameOnAccount: "Ada Lovelace",
        },
      }),
    card: (businessId, customerId, number, cardType = CardType.CARD_TYPE_DEBIT) =>
      add(businessId, customerId, { $case: "card", value: { number, expiry: "12/29", cardType } }),
    async close() {
      client.close();
      await server.close();
      if (db) {
        await sql.end({ timeout: 5 });
        await db.drop();
      }
    },
  };
}

export interface TransactionsStack {
  sql: Sql;
  clock: ManualClock;
  accounts: AccountsStack;
  client: TransactionsServiceClient;
  txns: TransactionsServiceHandle;
  /** Every status change the in-process listeners heard, in order. */
  heard: TransactionStatusChangeEvent[];
  /** A business with a per-transaction limit of 10,000 minor units. */
  limitedBiz: string;
  /** A client of the notifications server the transactions service publishes to. */
  notifications: NotificationsServiceClient;
  /**
   * Holds the next PublishEvent call the notifications server gets (only that
   * one) until released; released with `fail`, it answers UNAVAILABLE without
   * publishing (notifications went down mid-call).
   */
  holdNextPublish(): { release(opts?: { fail?: boolean }): void; held(): boolean };
  /** Stops the notifications server (publishing fails until `startNotifications`). */
  stopNotifications(): Promise<void>;
  /** Serves notifications again on the same address. */
  startNotifications(): Promise<void>;
  /** Moves the clock and runs the simulator and the outbox. */
  advance(ms: number): Promise<void>;
  /** A valid push-to-card request of 250.00 USD with a fresh idempotency key. */
  request(
    s: { biz: string; cus: string; debit: string },
    over?: Partial<CreateTransactionRequest>,
  ): CreateTransactionRequest;
  close(): Promise<void>;
}

/**
 * Accounts, notifications and transactions services on one test database,
 * sharing a ManualClock; the transactions service checks accounts and
 * publishes through notifications over real gRPC.
 */
export async function startTransactions(
  opts: { log?: Logger; rails?: RailsOptions; limits?: TransactionLimits } = {},
): Promise<TransactionsStack> {
  const db = await createTestDatabase();
  const accounts = await startAccounts({ db, ...(opts.log ? { log: opts.log } : {}) });
  const { sql, clock } = accounts;
  await migrateNotifications(sql);
  await migrateTransactions(sql);
  const notifications: NotificationsServiceHandle = createNotificationsService({
    sql,
    clock: clock as Clock,
    sms: new OutboxSmsSender(sql),
    email: new OutboxEmailSender(sql),
  });
  let holdNext: { gate: Promise<boolean>; held: boolean } | undefined;
  const impl = notifications.implementation as UntypedServiceImplementation & Record<string, unknown>;
  const publishEvent = impl.publishEvent as (call: unknown, cb: sendUnaryData<unknown>) => void;
  impl.publishEvent = (c: unknown, cb: sendUnaryData<unknown>) => {
    const hold = holdNext && !holdNext.held ? holdNext : undefined;
    if (!hold) return publishEvent(c, cb);
    hold.held = true;
    void hold.gate.then((fail) =>
      fail
        ? cb({ code: status.UNAVAILABLE, details: "notifications went away", name: "", message: "" })
        : publishEvent(c, cb),
    );
  };
  let notificationsServer = await listen([notifications]);
  const notificationsAddress = notificationsServer.address;
  const notificationsClient = createNotificationsClient(notificationsAddress);
  const limitedBiz = await accounts.business("Small");
  const txns = createTransactionsService({
    sql,
    clock,
    accounts: accounts.client,
    notifications: notificationsClient,
    limits: { perBusiness: { [limitedBiz]: 10_000 }, ...opts.limits },
    ...(opts.rails ? { rails: opts.rails } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  const heard: TransactionStatusChangeEvent[] = [];
  txns.onStatusChange((e) => heard.push(e));
  const server = await listen([txns]);
  const client = createTransactionsClient(server.address);
  return {
    sql,
    clock,
    accounts,
    client,
    txns,
    heard,
    limitedBiz,
    notifications: notificationsClient,
    holdNextPublish() {
      let open = (_fail: boolean) => {};
      const gate = new Promise<boolean>((r) => {
        open = r;
      });
      const hold = { gate, held: false };
      holdNext = hold;
      return {
        release: (opts = {}) => {
          if (holdNext === hold) holdNext = undefined;
          open(opts.fail === true);
        },
        held: () => hold.held,
      };
    },
    async stopNotifications() {
      await notificationsServer.close(0);
    },
    async startNotifications() {
      notificationsServer = await listen([notifications], notificationsAddress);
    },
    async advance(ms) {
      clock.advance(ms);
      await txns.runDue();
    },
    request: (s, over = {}) => ({
      businessId: s.biz,
      customerId: s.cus,
      financialAccountId: s.debit,
      direction: TransactionDirection.TRANSACTION_DIRECTION_SEND,
      method: TransactionMethod.TRANSACTION_METHOD_PUSH_TO_CARD,
      amount: { amountMinor: 25_000, currency: "USD" },
      idempotencyKey: `key-${randomBytes(6).toString("hex")}`,
      workflowId: "",
      externalId: "",
      ...over,
    }),
    async close() {
      client.close();
      notificationsClient.close();
      await server.close();
      await txns.close();
      await notifications.close();
      await notificationsServer.close();
      await accounts.close();
      await sql.end({ timeout: 5 });
      await db.drop();
    },
  };
}
