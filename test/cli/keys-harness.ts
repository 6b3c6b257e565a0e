import { randomBytes } from "node:crypto";
import { main } from "../../bin/linkflow.ts";
import type { Keyring, Sql } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  BankAccountType,
  FinancialAccountSource,
  type NotificationsServiceClient,
} from "../../proto/index.ts";
import { createAccountsClient, createAccountsService } from "../../services/accounts/index.ts";
import { call, type ListeningServer, listen } from "../../services/grpc/index.ts";
import {
  createNotificationsClient,
  createNotificationsService,
  OutboxEmailSender,
  OutboxSmsSender,
} from "../../services/notifications/index.ts";
import { person } from "../services/stack.ts";

/** A keyring of one fresh key, `id`. */
export function keyringOf(id: string): Keyring {
  return { currentKeyId: id, keys: { [id]: randomBytes(32).toString("base64") } };
}

/** A node's services: accounts and notifications under `keyring`, over real gRPC. */
export interface KeyedServices {
  accounts: AccountsServiceClient;
  notifications: NotificationsServiceClient;
  stop(): Promise<void>;
}

/** The accounts and notifications services under `keyring`, as a node configured with it runs them. */
export async function servicesWith(sql: Sql, keyring: Keyring): Promise<KeyedServices> {
  const accounts = createAccountsService({ sql, keyring });
  const notifications = createNotificationsService({
    sql,
    keyring,
    sms: new OutboxSmsSender(sql),
    email: new OutboxEmailSender(sql),
    webhooks: { pollIntervalMs: 25, baseBackoffMs: 20, maxBackoffMs: 80 },
  });
  const server: ListeningServer = await listen([accounts, notifications]);
  const a = createAccountsClient(server.address);
  const n = createNotificationsClient(server.address);
  return {
    accounts: a,
    notifications: n,
    async stop() {
      a.close();
      n.close();
      await server.close();
      await notifications.close();
    },
  };
}

/** The keyring as LINKFLOW_ENCRYPTION_KEYS spells it. */
function keysEnv(keyring: Keyring): string {
  return Object.entries(keyring.keys)
    .map(([id, key]) => `${id}:${key as string}`)
    .join(",");
}

/**
 * Runs `linkflow keys …` in process against `databaseUrl` with `keyring` in
 * the environment (none when undefined); returns its exit code and output.
 */
export async function keysCli(databaseUrl: string, args: string[], keyring: Keyring | undefined) {
  const saved = { ...process.env };
  process.env.DATABASE_URL = databaseUrl;
  delete process.env.LINKFLOW_ENCRYPTION_KEYS;
  delete process.env.LINKFLOW_ENCRYPTION_KEY_ID;
  if (keyring) {
    process.env.LINKFLOW_ENCRYPTION_KEYS = keysEnv(keyring);
    process.env.LINKFLOW_ENCRYPTION_KEY_ID = keyring.currentKeyId;
  }
  let out = "";
  let err = "";
  try {
    const code = await main(["keys", ...args], { out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  } finally {
    process.env = saved;
  }
}

/** A business and one of its customers, made through the accounts API. */
export interface Holder {
  businessId: string;
  customerId: string;
}

/** Creates a business with one customer. */
export async function createHolder(client: AccountsServiceClient): Promise<Holder> {
  const biz = await call(client, "createBusiness", {
    name: "Acme",
    parentBusinessId: "",
    idempotencyKey: "",
  });
  return { businessId: biz.business!.id, customerId: await addCustomer(client, biz.business!.id) };
}

/** Creates another customer of `businessId`; returns its id. */
export async function addCustomer(client: AccountsServiceClient, businessId: string): Promise<string> {
  const res = await call(client, "createCustomer", {
    businessId,
    profile: { $case: "individual", value: person() },
    idempotencyKey: "",
    externalId: "",
  });
  return res.customer!.id;
}

/** Adds a checking account with `accountNumber` to the holder's customer; returns its id. */
export async function addBankAccount(
  client: AccountsServiceClient,
  holder: Holder,
  accountNumber: string,
): Promise<string> {
  const res = await call(client, "addFinancialAccount", {
    businessId: holder.businessId,
    customerId: holder.customerId,
    idempotencyKey: "",
    name: "Checking",
    source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
    providerAccountId: "",
    makeDefault: false,
    details: {
      $case: "bankAccount",
      value: {
        routingNumber: "011000015",
        accountNumber,
        accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
        nameOnAccount: "Ada Lovelace",
      },
    },
  });
  return res.financialAccount!.id;
}
