import { type ChannelCredentials, credentials, Metadata } from "@grpc/grpc-js";
import {
  BusinessServiceClient,
  CustomerServiceClient,
  FinancialAccountServiceClient,
  TemplateServiceClient,
  TransactionServiceClient,
  WebhookServiceClient,
  WorkflowServiceClient,
} from "../../proto/index.ts";
import { type CallOpts, callOrThrow, type UnaryMethod } from "../../services/grpc/index.ts";

/** The public API's clients, all on the gateway's gRPC address. */
export class PublicApi {
  readonly workflows: WorkflowServiceClient;
  readonly templates: TemplateServiceClient;
  readonly businesses: BusinessServiceClient;
  readonly webhooks: WebhookServiceClient;
  readonly customers: CustomerServiceClient;
  readonly financialAccounts: FinancialAccountServiceClient;
  readonly transactions: TransactionServiceClient;

  constructor(address: string, creds: ChannelCredentials = credentials.createInsecure()) {
    this.workflows = new WorkflowServiceClient(address, creds);
    this.templates = new TemplateServiceClient(address, creds);
    this.businesses = new BusinessServiceClient(address, creds);
    this.webhooks = new WebhookServiceClient(address, creds);
    this.customers = new CustomerServiceClient(address, creds);
    this.financialAccounts = new FinancialAccountServiceClient(address, creds);
    this.transactions = new TransactionServiceClient(address, creds);
  }

  close(): void {
    for (const c of [
      this.workflows,
      this.templates,
      this.businesses,
      this.webhooks,
      this.customers,
      this.financialAccounts,
      this.transactions,
    ])
      c.close();
  }
}

/** Credentials of one console request: the business's API key and, for a child business, who to act for. */
export interface Caller {
  apiKey: string;
  actFor?: string;
}

export function metadataFor(caller: Caller): Metadata {
  const md = new Metadata();
  md.set("authorization", `Bearer ${caller.apiKey}`);
  if (caller.actFor) md.set("linkflow-business-id", caller.actFor);
  return md;
}

/** Calls one public RPC as the caller; errors come back as revived LinkflowErrors. */
export function rpc<C, M extends UnaryMethod<C>>(
  caller: Caller,
  client: C,
  method: M,
  request: Parameters<typeof callOrThrow<C, M>>[2],
  opts: Omit<CallOpts, "metadata"> = {},
): ReturnType<typeof callOrThrow<C, M>> {
  return callOrThrow(client, method, request, { ...opts, metadata: metadataFor(caller) });
}
