import { createHash } from "node:crypto";
import { credentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { TransactionSql } from "postgres";
import {
  type Clock,
  checkKeyring,
  createLogger,
  FailedPreconditionError,
  type Keyring,
  type Logger,
  NotFoundError,
  newId,
  newSecret,
  olderKeyIds,
  type Sql,
  systemClock,
  UnauthenticatedError,
  ValidationError,
} from "../../core/index.ts";
import {
  AccountsServiceClient,
  type AccountsServiceServer,
  AccountsServiceService,
  type ApiKey,
  AppendEnhancedPiiResponse,
  type Business,
  BusinessProfile,
  CreateApiKeyResponse,
  CreateBusinessResponse,
  CreateCustomerResponse,
  type Customer,
  CustomerStatus,
  DeleteCustomerResponse,
  IndividualProfile,
  SetCustomerStatusResponse,
  UpdateCustomerResponse,
} from "../../proto/index.ts";
import {
  type HealthProbe,
  idempotentRequest,
  idempotentStatement,
  type ResponseCodec,
  sealedSecretCodec,
  unary,
  Violations,
} from "../grpc/index.ts";
import { acceptanceHandlers } from "./acceptances.ts";
import {
  appendEnhancedPii,
  appendedFields,
  ENHANCED_PII_COLUMNS,
  type EnhancedPiiColumns,
  enhancedPiiOf,
  eraseEnhancedPii,
  fingerprinted,
  validateEnhancedPii,
} from "./enhanced-pii.ts";
import { disconnectAccounts, financialHandlers, requireCustomer } from "./financial.ts";
import { customerIds, normalizeProfile, type Profile, validateProfile } from "./validation.ts";

export interface AccountsServiceDeps {
  sql: Sql;
  clock?: Clock;
  log?: Logger;
  /** Key mode in the plaintext prefix: `lf_test_` (default) or `lf_live_`. */
  keyMode?: "test" | "live";
  /**
   * Keys that encrypt account and card numbers at rest. Without one,
   * AddFinancialAccount fails with FAILED_PRECONDITION `encryption_not_configured`.
   */
  keyring?: Keyring;
}

interface CustomerRow {
  id: string;
  business_id: string;
  kind: "individual" | "business";
  profile: unknown;
  status: "active" | "suspended";
  external_id: string;
  created_at: Date;
  updated_at: Date;
}

/** A status change as the JSON aggregate of a read gives it. */
interface HistoryJson {
  status: "active" | "suspended";
  reason: string;
  changed_at: string;
}

const STATUS_TO_DB: Partial<Record<CustomerStatus, "active" | "suspended">> = {
  [CustomerStatus.CUSTOMER_STATUS_ACTIVE]: "active",
  [CustomerStatus.CUSTOMER_STATUS_SUSPENDED]: "suspended",
};
const STATUS_FROM_DB = {
  active: CustomerStatus.CUSTOMER_STATUS_ACTIVE,
  suspended: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
} as const;

/** sha256 hex of an API key: the only form in which keys are stored. */
export function hashApiKey(apiKey: string): string {
  return createHash("sha256").update(apiKey).digest("hex");
}

/**
 * How a CreateApiKey response is kept for replays: the plaintext key sealed
 * under the keyring (bound to the key's id), so the idempotency table never
 * holds a usable key. Without a keyring nothing of the secret is kept, and a
 * replay is refused: the key was shown once.
 */
export function apiKeyReplayCodec(keyring: Keyring | undefined): ResponseCodec<CreateApiKeyResponse> {
  return sealedSecretCodec(CreateApiKeyResponse, {
    keyring,
    field: "apiKey",
    aad: (m) => `api_key:${m.key?.id ?? ""}`,
    shownOnce: () =>
      new FailedPreconditionError(
        "api_key_shown_once",
        "an earlier request with this idempotency key created the API key, and its secret is shown only once; revoke it and create another",
      ),
  });
}

function profileJson(p: Profile): unknown {
  return p.$case === "individual" ? IndividualProfile.toJSON(p.value) : BusinessProfile.toJSON(p.value);
}

function profileFromRow(r: Pick<CustomerRow, "kind" | "profile">): Profile {
  return r.kind === "individual"
    ? { $case: "individual", value: IndividualProfile.fromJSON(r.profile) }
    : { $case: "business", value: BusinessProfile.fromJSON(r.profile) };
}

/**
 * A customer's columns of `accounts.customers c` left-joined with
 * `accounts.customer_enhanced_pii p`, with its status history as `history`
 * (JSON, oldest first): a customer in one read.
 */
const CUSTOMER_COLUMNS = `c.id, c.business_id, c.kind, c.profile, c.status, c.external_id, c.created_at, c.updated_at,
  coalesce((select json_agg(json_build_object('status', h.status, 'reason', h.reason, 'changed_at', h.changed_at)
                            order by h.id)
            from accounts.customer_status_history h where h.customer_id = c.id), '[]') as history,
  ${ENHANCED_PII_COLUMNS}`;

type CustomerRead = CustomerRow & EnhancedPiiColumns & { history: HistoryJson[] };

function customerFromRead(row: CustomerRead): Customer {
  return {
    id: row.id,
    businessId: row.business_id,
    profile: profileFromRow(row),
    status: STATUS_FROM_DB[row.status],
    externalId: row.external_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    statusHistory: row.history.map((h) => ({
      status: STATUS_FROM_DB[h.status],
      reason: h.reason,
      changedAt: new Date(h.changed_at),
    })),
    enhancedPii: enhancedPiiOf(row),
  };
}

interface BusinessRow {
  id: string;
  name: string;
  parent_business_id: string | null;
  created_at: Date;
}

function businessFromRow(r: BusinessRow): Business {
  return { id: r.id, name: r.name, parentBusinessId: r.parent_business_id ?? "", createdAt: r.created_at };
}

interface KeyRow {
  id: string;
  business_id: string;
  name: string;
  prefix: string;
  created_at: Date;
  revoked_at: Date | null;
}

function keyFromRow(r: KeyRow): ApiKey {
  return {
    id: r.id,
    businessId: r.business_id,
    name: r.name,
    prefix: r.prefix,
    createdAt: r.created_at,
    ...(r.revoked_at ? { revokedAt: r.revoked_at } : {}),
  };
}

/**
 * The accounts service: businesses (with parents), API keys (sha256 hashes
 * only), customers (individual or business profile) and their status history.
 * Every tenant query is scoped by business_id.
 */
export function createAccountsService(deps: AccountsServiceDeps): {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  /** Resolves when the service's database answers (its grpc.health.v1 status). */
  probe: HealthProbe;
} {
  const { sql } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger({ service: "accounts" });
  const mode = deps.keyMode ?? "test";
  const now = () => new Date(clock.now());
  if (deps.keyring) checkKeyring(deps.keyring);
  const noKeyring: Keyring = { currentKeyId: "", keys: {} };
  const financial = financialHandlers({ sql, clock, log, keyring: deps.keyring ?? noKeyring });
  if (!deps.keyring) {
    financial.addFinancialAccount = unary(async () => {
      throw new FailedPreconditionError(
        "encryption_not_configured",
        "financial accounts need an encryption keyring (LINKFLOW_ENCRYPTION_KEYS)",
      );
    });
  }

  async function loadCustomer(
    db: Sql | TransactionSql,
    businessId: string,
    customerId: string,
  ): Promise<Customer> {
    const [row] = await db<CustomerRead[]>`
      select ${db.unsafe(CUSTOMER_COLUMNS)}
      from accounts.customers c left join accounts.customer_enhanced_pii p on p.customer_id = c.id
      where c.id = ${customerId} and c.business_id = ${businessId} and c.deleted_at is null`;
    if (!row) throw new NotFoundError("customer", customerId);
    return customerFromRead(row);
  }

  const impl: AccountsServiceServer = {
    createBusiness: unary(async (req) => {
      const v = new Violations();
      v.text("name", req.name, { max: 200 });
      if (req.parentBusinessId) v.id("parent_business_id", req.parentBusinessId, "biz");
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      const business: Business = {
        id: newId("biz", clock.now()),
        name: req.name.trim(),
        parentBusinessId: req.parentBusinessId,
        createdAt: now(),
      };
      const b = business;
      const { idempotencyKey, ...request } = req;
      return idempotentStatement(sql, {
        schema: "accounts",
        businessId: req.parentBusinessId || "-",
        key: idempotencyKey,
        method: "CreateBusiness",
        request,
        codec: CreateBusinessResponse,
        allowed: req.parentBusinessId
          ? sql`exists (select from accounts.businesses where id = ${req.parentBusinessId})`
          : sql`true`,
        effects: sql`
          business as (
            insert into accounts.businesses (id, name, parent_business_id, created_at)
            select ${b.id}, ${b.name}, ${b.parentBusinessId || null}, ${b.createdAt!} from claim
          )`,
        response: { business },
        refused: () => new NotFoundError("business", req.parentBusinessId),
        onWritten: () => log.info("business created", { business_id: b.id }),
      });
    }),

    getBusiness: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.throwIfAny();
      const [row] = await sql<BusinessRow[]>`
        select * from accounts.businesses where id = ${req.businessId}`;
      if (!row) throw new NotFoundError("business", req.businessId);
      return { business: businessFromRow(row) };
    }),

    createApiKey: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.text("name", req.name, { max: 100 });
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      const apiKey = `lf_${mode}_${newSecret(24)}`;
      const key: ApiKey = {
        id: newId("key", clock.now()),
        businessId: req.businessId,
        name: req.name.trim(),
        prefix: apiKey.slice(0, 12),
        createdAt: now(),
      };
      const { idempotencyKey, ...request } = req;
      return idempotentStatement(sql, {
        schema: "accounts",
        businessId: req.businessId,
        key: idempotencyKey,
        method: "CreateApiKey",
        request,
        codec: apiKeyReplayCodec(deps.keyring),
        allowed: sql`exists (select from accounts.businesses where id = ${req.businessId})`,
        effects: sql`
          api_key as (
            insert into accounts.api_keys (id, business_id, name, prefix, key_hash, created_at)
            select ${key.id}, ${key.businessId}, ${key.name}, ${key.prefix}, ${hashApiKey(apiKey)}, ${key.createdAt!}
            from claim
          )`,
        response: { apiKey, key },
        refused: () => new NotFoundError("business", req.businessId),
        onWritten: () => log.info("api key created", { business_id: req.businessId, key_id: key.id }),
      });
    }),

    authenticateApiKey: unary(async (req) => {
      if (!/^lf_(test|live)_[\w-]{16,}$/.test(req.apiKey)) throw new UnauthenticatedError("invalid API key");
      const [row] = await sql<{ id: string; business_id: string }[]>`
        select id, business_id from accounts.api_keys where key_hash = ${hashApiKey(req.apiKey)} and revoked_at is null`;
      if (!row) throw new UnauthenticatedError("invalid API key");
      return { businessId: row.business_id, keyId: row.id };
    }),

    revokeApiKey: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("key_id", req.keyId, "key");
      v.throwIfAny();
      const [row] = await sql<
        KeyRow[]
      >`update accounts.api_keys set revoked_at = coalesce(revoked_at, ${now()})
        where id = ${req.keyId} and business_id = ${req.businessId}
        returning id, business_id, name, prefix, created_at, revoked_at`;
      if (!row) throw new NotFoundError("api key", req.keyId);
      log.info("api key revoked", { business_id: req.businessId, key_id: row.id });
      return { key: keyFromRow(row) };
    }),

    listApiKeys: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.throwIfAny();
      const rows = await sql<
        KeyRow[]
      >`select id, business_id, name, prefix, created_at, revoked_at from accounts.api_keys
        where business_id = ${req.businessId} order by id`;
      return { keys: rows.map(keyFromRow) };
    }),

    createCustomer: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      validateProfile(v, req.profile);
      v.text("external_id", req.externalId, { max: 100, optional: true });
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      const profile = normalizeProfile(req.profile!);
      const id = newId("cus", clock.now());
      const at = now();
      const json = profileJson(profile);
      const externalId = req.externalId.trim();
      // What the statement writes is the answer: no read-back.
      const customer: Customer = {
        id,
        businessId: req.businessId,
        profile: profileFromRow({ kind: profile.$case, profile: json }),
        status: CustomerStatus.CUSTOMER_STATUS_ACTIVE,
        externalId,
        createdAt: at,
        updatedAt: at,
        statusHistory: [{ status: CustomerStatus.CUSTOMER_STATUS_ACTIVE, reason: "created", changedAt: at }],
      };
      const { idempotencyKey, ...request } = req;
      return idempotentStatement(sql, {
        schema: "accounts",
        businessId: req.businessId,
        key: idempotencyKey,
        method: "CreateCustomer",
        request,
        codec: CreateCustomerResponse,
        allowed: sql`exists (select from accounts.businesses where id = ${req.businessId})`,
        effects: sql`
          cus as (
            insert into accounts.customers (id, business_id, kind, profile, status, external_id, created_at, updated_at)
            select ${id}, ${req.businessId}, ${profile.$case}, ${sql.json(json as never)}, 'active', ${externalId},
                   ${at}, ${at}
            from claim returning id
          ),
          history as (
            insert into accounts.customer_status_history (customer_id, status, reason, changed_at)
            select id, 'active', 'created', ${at} from cus
          )`,
        response: { customer },
        refused: () => new NotFoundError("business", req.businessId),
        onWritten: () =>
          log.info("customer created", { business_id: req.businessId, customer_id: id, kind: profile.$case }),
      });
    }),

    getCustomer: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      v.throwIfAny();
      return { customer: await loadCustomer(sql, req.businessId, req.customerId) };
    }),

    updateCustomer: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      validateProfile(v, req.profile);
      v.text("external_id", req.externalId, { max: 100, optional: true });
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      const profile = normalizeProfile(req.profile!);
      return idempotentRequest(
        sql,
        "accounts",
        req,
        { method: "UpdateCustomer", codec: UpdateCustomerResponse },
        async (tx, committed) => {
          const [row] = await tx<{ kind: string }[]>`
          select kind from accounts.customers
          where id = ${req.customerId} and business_id = ${req.businessId} and deleted_at is null for update`;
          if (!row) throw new NotFoundError("customer", req.customerId);
          if (row.kind !== profile.$case) {
            throw new ValidationError([
              {
                field: profile.$case,
                description: `the customer is a ${row.kind} customer; the kind cannot change`,
              },
            ]);
          }
          await tx`update accounts.customers set profile = ${tx.json(profileJson(profile) as never)},
            external_id = ${req.externalId.trim()}, updated_at = ${now()}
          where id = ${req.customerId} and business_id = ${req.businessId}`;
          committed(() =>
            log.info("customer updated", { business_id: req.businessId, customer_id: req.customerId }),
          );
          return { customer: await loadCustomer(tx, req.businessId, req.customerId) };
        },
      );
    }),

    listCustomers: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.page(req.page, "cus");
      v.enumValue("status", req.status, CustomerStatus, "is not a known status");
      v.throwIfAny();
      const token = req.page?.pageToken ?? "";
      const limit = req.page?.pageSize || 50;
      const status = STATUS_TO_DB[req.status] ?? null;
      const rows = await sql<CustomerRead[]>`
        select ${sql.unsafe(CUSTOMER_COLUMNS)}
        from accounts.customers c left join accounts.customer_enhanced_pii p on p.customer_id = c.id
        where c.business_id = ${req.businessId} and c.deleted_at is null
          and (${token}::text = '' or c.id < ${token})
          and (${status}::text is null or c.status = ${status})
        order by c.id desc limit ${limit + 1}`;
      const page = rows.slice(0, limit);
      const customers = page.map(customerFromRead);
      return { customers, nextPageToken: rows.length > limit ? (page.at(-1)?.id ?? "") : "" };
    }),

    setCustomerStatus: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      const status = STATUS_TO_DB[req.status];
      if (!status) v.add("status", "must be CUSTOMER_STATUS_ACTIVE or CUSTOMER_STATUS_SUSPENDED");
      v.text("reason", req.reason, { max: 500, optional: status === "active" });
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      return idempotentRequest(
        sql,
        "accounts",
        req,
        { method: "SetCustomerStatus", codec: SetCustomerStatusResponse },
        async (tx, committed) => {
          const at = now();
          const [row] = await tx<{ status: string }[]>`
          select status from accounts.customers
          where id = ${req.customerId} and business_id = ${req.businessId} and deleted_at is null for update`;
          if (!row) throw new NotFoundError("customer", req.customerId);
          if (row.status !== status) {
            await tx`update accounts.customers set status = ${status!}, updated_at = ${at} where id = ${req.customerId}`;
            await tx`insert into accounts.customer_status_history (customer_id, status, reason, changed_at)
            values (${req.customerId}, ${status!}, ${req.reason.trim()}, ${at})`;
            committed(() =>
              log.info("customer status changed", {
                business_id: req.businessId,
                customer_id: req.customerId,
                status,
              }),
            );
          }
          return { customer: await loadCustomer(tx, req.businessId, req.customerId) };
        },
      );
    }),

    appendEnhancedPii: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      validateEnhancedPii(v, req, now());
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      const keyring = deps.keyring;
      if (!keyring) {
        throw new FailedPreconditionError(
          "encryption_not_configured",
          "enhanced PII needs an encryption keyring (LINKFLOW_ENCRYPTION_KEYS)",
        );
      }
      // The hash of a bare date of birth or tax id could be reversed by trying them all.
      return idempotentRequest(
        sql,
        "accounts",
        req,
        {
          method: "AppendEnhancedPii",
          codec: AppendEnhancedPiiResponse,
          hashed: (request) => fingerprinted(keyring, request),
          sameAs: (request) => olderKeyIds(keyring).map((keyId) => fingerprinted(keyring, request, keyId)),
        },
        async (tx, committed) => {
          await requireCustomer(tx, req.businessId, req.customerId, { lock: true });
          const at = now();
          await appendEnhancedPii(tx, keyring, req, at);
          await tx`update accounts.customers set updated_at = ${at} where id = ${req.customerId}`;
          committed(() =>
            log.info("enhanced pii appended", {
              business_id: req.businessId,
              customer_id: req.customerId,
              fields: appendedFields(req),
            }),
          );
          return { customer: await loadCustomer(tx, req.businessId, req.customerId) };
        },
      );
    }),

    deleteCustomer: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      return idempotentRequest(
        sql,
        "accounts",
        req,
        { method: "DeleteCustomer", codec: DeleteCustomerResponse },
        async (tx, committed) => {
          await requireCustomer(tx, req.businessId, req.customerId, { lock: true });
          const at = now();
          const accounts = await disconnectAccounts(tx, req.customerId, at, "customer deleted");
          await eraseEnhancedPii(tx, req.customerId);
          await tx`update accounts.customers set deleted_at = ${at}, updated_at = ${at} where id = ${req.customerId}`;
          committed(() =>
            log.info("customer deleted", {
              business_id: req.businessId,
              customer_id: req.customerId,
              accounts,
            }),
          );
          return {};
        },
      );
    }),

    ...financial,
    ...acceptanceHandlers({ sql, clock, log }),
  };

  return {
    definition: AccountsServiceService as unknown as ServiceDefinition,
    implementation: impl as unknown as UntypedServiceImplementation,
    probe: async () => {
      await sql`select 1`;
    },
  };
}

/** A client of the accounts service (insecure channel: loopback or a private network). */
export function createAccountsClient(address: string): AccountsServiceClient {
  return new AccountsServiceClient(address, credentials.createInsecure());
}
