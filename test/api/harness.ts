import {
  type ChannelCredentials,
  type ClientReadableStream,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, expect } from "vitest";
import { type ApiDeps, type ApiHealth, addPublicApi, type RateLimiter } from "../../gateway/api/index.ts";
import { bootstrapBusiness } from "../../gateway/node/index.ts";
import {
  AccountsServiceClient,
  BusinessServiceClient,
  type CreateWorkflowRequest,
  CustomerServiceClient,
  FinancialAccountServiceClient,
  NotificationsServiceClient,
  TemplateServiceClient,
  TransactionServiceClient,
  TransactionsServiceClient,
  WebhookServiceClient,
  WorkflowServiceClient,
} from "../../proto/index.ts";
import { call, readErrorCode, readFieldViolations } from "../../services/grpc/index.ts";
import { type Stack, startStack } from "../support/stack.ts";

type ClientCtor<C> = new (address: string, creds: ChannelCredentials) => C & { close(): void };

/** The public API with every dependency wired, on its own port over a full stack. */
export interface ApiHarness {
  stack: Stack;
  address: string;
  /** Businesses: `a` (the stack's), `b` (another tenant). */
  a: { businessId: string; apiKey: string };
  b: { businessId: string; apiKey: string };
  workflows: WorkflowServiceClient;
  templates: TemplateServiceClient;
  businesses: BusinessServiceClient;
  webhooks: WebhookServiceClient;
  customers: CustomerServiceClient;
  financialAccounts: FinancialAccountServiceClient;
  transactions: TransactionServiceClient;
  /** Internal accounts client (to set up data a public RPC cannot). */
  accounts: AccountsServiceClient;
  /** Internal transactions client (transactions are made by workflows; tests make them directly). */
  internalTransactions: TransactionsServiceClient;
  /** The API's health handle (draining, shutdown). */
  health: ApiHealth;
  client<C>(ctor: ClientCtor<C>): C;
  auth(key: string, actFor?: string): Metadata;
  /** Call options for business `a`'s key (acting for `actFor` when given). */
  asA(actFor?: string): { metadata: Metadata };
  /** Call options for business `b`'s key. */
  asB(): { metadata: Metadata };
  stop(): Promise<void>;
}

export async function startApi(
  opts: { rateLimiter?: RateLimiter | false } & Pick<
    ApiDeps,
    "health" | "authFailureLimit" | "maxStreamsPerKey"
  > = {},
): Promise<ApiHarness> {
  const stack = await startStack({ tracing: false });
  const closers: Array<() => void | Promise<void>> = [() => stack.stop()];
  const stop = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const { node } = stack;
    const internal = node.internalAddress;
    const accounts = new AccountsServiceClient(internal, credentials.createInsecure());
    const notifications = new NotificationsServiceClient(internal, credentials.createInsecure());
    const txns = new TransactionsServiceClient(internal, credentials.createInsecure());
    closers.push(() => {
      accounts.close();
      notifications.close();
      txns.close();
    });
    const server = new Server();
    const health = addPublicApi(server, {
      workflows: node.workflows,
      accounts,
      notifications,
      transactions: txns,
      sql: node.sql,
      runtime: node.runtime,
      templates: node.templates,
      rateLimiter: opts.rateLimiter ?? false,
      ...(opts.health ? { health: opts.health } : {}),
      ...(opts.authFailureLimit ? { authFailureLimit: opts.authFailureLimit } : {}),
      ...(opts.maxStreamsPerKey ? { maxStreamsPerKey: opts.maxStreamsPerKey } : {}),
      // Until the accounts service lists child businesses, read them from its table.
      childBusinesses: async (businessId) =>
        (
          await node.sql<{ id: string }[]>`
            select id from accounts.businesses where parent_business_id = ${businessId} order by id`
        ).map((r) => r.id),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    closers.push(() => {
      health.shutdown();
      return new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    });
    const address = `127.0.0.1:${port}`;
    const b = await bootstrapBusiness(internal, { name: "Globex" });
    const auth = (key: string, actFor?: string) => {
      const md = new Metadata();
      if (key) md.set("authorization", `Bearer ${key}`);
      if (actFor) md.set("linkflow-business-id", actFor);
      return md;
    };
    const client = <C>(ctor: ClientCtor<C>): C => {
      const c = new ctor(address, credentials.createInsecure());
      closers.push(() => c.close());
      return c;
    };
    return {
      stack,
      address,
      a: stack.business,
      b,
      workflows: client(WorkflowServiceClient),
      templates: client(TemplateServiceClient),
      businesses: client(BusinessServiceClient),
      webhooks: client(WebhookServiceClient),
      customers: client(CustomerServiceClient),
      financialAccounts: client(FinancialAccountServiceClient),
      transactions: client(TransactionServiceClient),
      accounts,
      internalTransactions: txns,
      health,
      client,
      auth,
      asA: (actFor) => ({ metadata: auth(stack.business.apiKey, actFor) }),
      asB: () => ({ metadata: auth(b.apiKey) }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** How a call failed: its status code, the fields of its BadRequest violations and its error code. */
/**
 * Starts one API stack for the calling test file (in `beforeAll`) and stops it
 * in `afterAll`. The returned object forwards to that harness, so it can be
 * bound at module level and used inside tests; touching it before `beforeAll`
 * ran throws instead of silently reading `undefined`.
 */
export function useApiStack(opts: Parameters<typeof startApi>[0] = {}): ApiHarness {
  let harness: ApiHarness | undefined;
  beforeAll(async () => {
    harness = await startApi(opts);
  });
  afterAll(async () => {
    await harness?.stop();
  });
  return new Proxy({} as ApiHarness, {
    get(_target, prop) {
      if (!harness) throw new Error(`API stack not started yet (read of ${String(prop)})`);
      const value = Reflect.get(harness, prop, harness);
      return typeof value === "function" ? value.bind(harness) : value;
    },
  });
}

export interface Failure {
  code: number;
  fields: string[];
  reason?: string | undefined;
}

/** Awaits a call that must fail and describes the failure. */
export async function failure(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (err) {
    return {
      code: (err as { code: number }).code,
      fields: readFieldViolations(err).map((v) => v.field),
      reason: readErrorCode(err),
    };
  }
  throw new Error("expected the call to fail");
}

/** Each call must fail with INVALID_ARGUMENT and a field violation naming its field. */
export async function expectViolations(cases: Array<[() => Promise<unknown>, string]>): Promise<void> {
  for (const [i, [p, field]] of cases.entries()) {
    const label = `case ${i} (${field})`;
    const f = await failure(p()).catch((err: Error) => {
      throw new Error(`${label}: ${err.message}`);
    });
    expect(f.code, label).toBe(status.INVALID_ARGUMENT);
    expect(f.fields, label).toContain(field);
  }
}

/** A CreateWorkflowRequest for the `welcome` template with every other field empty. */
export function createWorkflowRequest(over: Partial<CreateWorkflowRequest>): CreateWorkflowRequest {
  return {
    templateName: "welcome",
    templateVersion: 0,
    inputs: {},
    customerPhone: "",
    customerEmail: "",
    customerId: "",
    channel: 0,
    externalId: "",
    memo: "",
    idempotencyKey: "",
    ...over,
  };
}

/** A `welcome` workflow of business `a` whose link SMS has gone out to `phone`; resolves with its id. */
export async function sentWorkflow(api: ApiHarness, phone: string): Promise<string> {
  const { workflow } = await call(
    api.workflows,
    "createWorkflow",
    createWorkflowRequest({ customerPhone: phone }),
    api.asA(),
  );
  await api.stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
  return workflow!.id;
}

/**
 * A mutation with an idempotency key: `first` run twice answers the same both
 * times; `other` (another request under the same key) is refused with
 * FAILED_PRECONDITION `idempotency_key_reused`.
 */
export async function expectIdempotent<R>(
  first: () => Promise<R>,
  other: () => Promise<unknown>,
): Promise<R> {
  const a = await first();
  expect(await first()).toEqual(a);
  expect(await failure(other())).toMatchObject({
    code: status.FAILED_PRECONDITION,
    reason: "idempotency_key_reused",
  });
  return a;
}

/** How a server stream ended: its status code, and for a failure its error code and details. */
export interface StreamEnd {
  code: number;
  reason?: string | undefined;
  details?: string | undefined;
}

/** Collects what a server stream sends (`got`) and how it ends (`done`); `stream` to cancel it. */
export function collect<T>(stream: ClientReadableStream<T>): {
  stream: ClientReadableStream<T>;
  got: T[];
  done: Promise<StreamEnd>;
} {
  const got: T[] = [];
  const done = new Promise<StreamEnd>((resolve) => {
    stream.on("data", (m: T) => got.push(m));
    stream.on("error", (e: Error & { code: number; details: string }) =>
      resolve({ code: e.code, reason: readErrorCode(e), details: e.details }),
    );
    stream.on("end", () => resolve({ code: status.OK }));
  });
  return { stream, got, done };
}
