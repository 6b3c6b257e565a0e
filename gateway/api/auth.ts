import type { Metadata } from "@grpc/grpc-js";
import { UnauthenticatedError } from "../../core/index.ts";
import type { AccountsServiceClient } from "../../proto/index.ts";
import { callOrThrow } from "../../services/grpc/index.ts";
import type { Tenant } from "../../services/workflows/index.ts";

/**
 * Resolves `authorization: Bearer <api key>` to the business it belongs to.
 * Keys are checked by the accounts service, which stores only their hashes;
 * results are cached briefly so a hot key costs no round trip.
 */
export class ApiKeyAuthenticator {
  #cache = new Map<string, { tenant: Tenant; until: number }>();

  constructor(
    private readonly accounts: AccountsServiceClient,
    private readonly ttlMs = 30_000,
  ) {}

  async authenticate(metadata: Metadata): Promise<Tenant & { keyId: string }> {
    const header = metadata.get("authorization")[0];
    const m = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
    if (!m?.[1]) throw new UnauthenticatedError();
    const key = m[1];
    const hit = this.#cache.get(key);
    if (hit && hit.until > Date.now()) return hit.tenant as Tenant & { keyId: string };
    let auth: { businessId: string; keyId: string };
    try {
      auth = await callOrThrow(this.accounts, "authenticateApiKey", { apiKey: key });
    } catch (err) {
      if ((err as { grpcStatus?: number }).grpcStatus === 16)
        throw new UnauthenticatedError("the API key is not valid");
      throw err;
    }
    const { business } = await callOrThrow(this.accounts, "getBusiness", { businessId: auth.businessId });
    const tenant = {
      businessId: auth.businessId,
      businessName: business?.name ?? "",
      scope: [auth.businessId],
      keyId: auth.keyId,
    };
    this.#cache.set(key, { tenant, until: Date.now() + this.ttlMs });
    return tenant;
  }

  /** Forget cached keys (after a revocation). */
  clear(): void {
    this.#cache.clear();
  }
}
