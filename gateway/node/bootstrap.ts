import { credentials } from "@grpc/grpc-js";
import { AccountsServiceClient, NotificationsServiceClient } from "../../proto/index.ts";
import { callOrThrow } from "../../services/grpc/index.ts";

export interface BootstrappedBusiness {
  businessId: string;
  apiKey: string;
  webhookSecret?: string;
}

/**
 * Creates a business with an API key (and, given a URL, a webhook
 * subscription to every workflow and transaction event) through the internal
 * services. Used by `npm start`'s demo business and by tests.
 */
export async function bootstrapBusiness(
  internalAddress: string,
  opts: { name: string; webhookUrl?: string; eventTypes?: string[]; idempotencyKey?: string },
): Promise<BootstrappedBusiness> {
  const accounts = new AccountsServiceClient(internalAddress, credentials.createInsecure());
  const notifications = new NotificationsServiceClient(internalAddress, credentials.createInsecure());
  try {
    const { business } = await callOrThrow(accounts, "createBusiness", {
      name: opts.name,
      parentBusinessId: "",
      // Keys are printable ASCII without spaces; business names may have spaces.
      idempotencyKey: opts.idempotencyKey ?? `bootstrap-${opts.name.replace(/\s+/g, "-")}-${Date.now()}`,
    });
    const businessId = business!.id;
    const { apiKey } = await callOrThrow(accounts, "createApiKey", {
      businessId,
      name: "default",
      idempotencyKey: `bootstrap-key-${businessId}`,
    });
    let webhookSecret: string | undefined;
    if (opts.webhookUrl) {
      const sub = await callOrThrow(notifications, "createWebhookSubscription", {
        businessId,
        url: opts.webhookUrl,
        eventTypes: opts.eventTypes ?? ["workflow.*", "transaction.*", "customer.*"],
        idempotencyKey: `bootstrap-hook-${businessId}`,
      });
      webhookSecret = sub.secret;
    }
    return { businessId, apiKey, webhookSecret };
  } finally {
    accounts.close();
    notifications.close();
  }
}

/** Creates another API key for a business (e.g. the console's own). */
export async function createApiKey(
  internalAddress: string,
  businessId: string,
  name: string,
): Promise<string> {
  const accounts = new AccountsServiceClient(internalAddress, credentials.createInsecure());
  try {
    const { apiKey } = await callOrThrow(accounts, "createApiKey", {
      businessId,
      name,
      idempotencyKey: `key-${name}-${businessId}`,
    });
    return apiKey;
  } finally {
    accounts.close();
  }
}
