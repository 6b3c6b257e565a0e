import type { Metadata } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { LinkflowError, UnauthenticatedError } from "../../core/index.ts";
import type { AccountsServiceClient } from "../../proto/index.ts";
import { callOrThrow } from "../../services/grpc/index.ts";
import type { Tenant } from "../../services/workflows/index.ts";

/** Metadata with which a parent business's key acts as one of its children. */
export const ACT_FOR_HEADER = "linkflow-business-id";

/** The business a call acts for, the key that made it, and the businesses it may see. */
export interface ApiTenant extends Tenant {
  keyId: string;
  /** The business the key belongs to (differs from businessId when acting for a child). */
  keyBusinessId: string;
  /** The child businesses of the key's business. */
  children: string[];
}

/** The child businesses of a business; wired to the accounts service by the node. */
export type ChildBusinesses = (businessId: string) => Promise<string[]>;

/**
 * Resolves `authorization: Bearer <api key>` to the business it belongs to.
 * Keys are checked by the accounts service, which stores only their hashes;
 * results are cached briefly so a hot key costs no round trip. A parent's key
 * sees its children's objects (scope = itself and its children) and, with
 * `linkflow-business-id: <child>`, acts as that child.
 */
export class ApiKeyAuthenticator {
  #cache = new Map<string, { tenant: ApiTenant; until: number }>();

  constructor(
    private readonly accounts: AccountsServiceClient,
    private readonly ttlMs = 30_000,
    private readonly children?: ChildBusinesses,
  ) {}

  async authenticate(metadata: Metadata): Promise<ApiTenant> {
    const header = metadata.get("authorization")[0];
    const m = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
    if (!m?.[1]) throw new UnauthenticatedError();
    const tenant = await this.#resolve(m[1]);
    const actFor = metadata.get(ACT_FOR_HEADER)[0];
    if (typeof actFor !== "string" || actFor === "" || actFor === tenant.businessId) return tenant;
    if (!tenant.children.includes(actFor)) {
      throw new LinkflowError("business_not_accessible", `this API key cannot act for business ${actFor}`, {
        grpcStatus: status.PERMISSION_DENIED,
      });
    }
    const { business } = await callOrThrow(this.accounts, "getBusiness", { businessId: actFor });
    return {
      ...tenant,
      businessId: actFor,
      businessName: business?.name ?? "",
      scope: [actFor],
      children: [],
    };
  }

  async #resolve(key: string): Promise<ApiTenant> {
    const hit = this.#cache.get(key);
    if (hit && hit.until > Date.now()) return hit.tenant;
    let auth: { businessId: string; keyId: string };
    try {
      auth = await callOrThrow(this.accounts, "authenticateApiKey", { apiKey: key });
    } catch (err) {
      if ((err as { grpcStatus?: number }).grpcStatus === status.UNAUTHENTICATED)
        throw new UnauthenticatedError("the API key is not valid");
      throw err;
    }
    const { business } = await callOrThrow(this.accounts, "getBusiness", { businessId: auth.businessId });
    const children = this.children ? await this.children(auth.businessId) : [];
    const tenant: ApiTenant = {
      businessId: auth.businessId,
      businessName: business?.name ?? "",
      scope: [auth.businessId, ...children],
      keyId: auth.keyId,
      keyBusinessId: auth.businessId,
      children,
    };
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(key, { tenant, until: Date.now() + this.ttlMs });
    return tenant;
  }

  /** Forget cached keys (after a revocation or a new child business). */
  clear(): void {
    this.#cache.clear();
  }
}
