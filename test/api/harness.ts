import { type ChannelCredentials, credentials, Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import { addPublicApi, type RateLimiter } from "../../gateway/api/index.ts";
import { bootstrapBusiness } from "../../gateway/node/index.ts";
import {
  AccountsServiceClient,
  BusinessServiceClient,
  CustomerServiceClient,
  FinancialAccountServiceClient,
  NotificationsServiceClient,
  TemplateServiceClient,
  TransactionServiceClient,
  TransactionsServiceClient,
  WebhookServiceClient,
  WorkflowServiceClient,
} from "../../proto/index.ts";
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
  client<C>(ctor: ClientCtor<C>): C;
  auth(key: string, actFor?: string): Metadata;
  stop(): Promise<void>;
}

export async function startApi(opts: { rateLimiter?: RateLimiter | false } = {}): Promise<ApiHarness> {
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
    addPublicApi(server, {
      workflows: node.workflows,
      accounts,
      notifications,
      transactions: txns,
      sql: node.sql,
      runtime: node.runtime,
      templates: node.templates,
      rateLimiter: opts.rateLimiter ?? false,
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
    closers.push(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
    const address = `127.0.0.1:${port}`;
    const b = await bootstrapBusiness(internal, { name: "Globex" });
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
      client,
      auth(key, actFor) {
        const md = new Metadata();
        if (key) md.set("authorization", `Bearer ${key}`);
        if (actFor) md.set("linkflow-business-id", actFor);
        return md;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
