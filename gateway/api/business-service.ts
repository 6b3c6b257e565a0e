import { NotFoundError, ValidationError } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  type Business,
  BusinessServiceRevokeApiKeyResponse,
  type BusinessServiceServer,
} from "../../proto/index.ts";
import { callOrThrow } from "../../services/grpc/index.ts";
import type { ApiKeyAuthenticator, ApiTenant } from "./auth.ts";
import { internalKey, type Rpc } from "./rpc.ts";

const BIZ = /^biz_[0-9a-z]{1,60}$/;
const KEY = /^key_[0-9a-z]{1,60}$/;

/** The business a request names (empty = the one the call acts for); outside the tenant's scope is NOT_FOUND. */
function target(tenant: ApiTenant, businessId: string): string {
  if (!businessId) return tenant.businessId;
  if (!BIZ.test(businessId))
    throw new ValidationError([{ field: "business_id", description: "must be a business id like biz_…" }]);
  if (!tenant.scope.includes(businessId)) throw new NotFoundError("business", businessId);
  return businessId;
}

export interface BusinessServiceDeps {
  rpc: Rpc;
  accounts: AccountsServiceClient;
  auth: ApiKeyAuthenticator;
}

/** The public BusinessService: the caller's business, its children and API keys, via the accounts service. */
export function businessServiceImpl(deps: BusinessServiceDeps): BusinessServiceServer {
  const { rpc, accounts, auth } = deps;
  const getBusiness = async (id: string, ctx: { callOpts(): { timeoutMs?: number } }): Promise<Business> => {
    const { business } = await callOrThrow(accounts, "getBusiness", { businessId: id }, ctx.callOpts());
    if (!business) throw new NotFoundError("business", id);
    return business;
  };
  return {
    getBusiness: rpc.unary("GetBusiness", async (req, ctx) => ({
      business: await getBusiness(target(ctx.tenant, req.businessId), ctx),
    })),
    createChildBusiness: rpc.mutation("CreateChildBusiness", null, async (req, ctx) => {
      const name = req.name?.trim() ?? "";
      if (!name || name.length > 100)
        throw new ValidationError([
          { field: "name", description: name ? "must be at most 100 characters" : "is required" },
        ]);
      const { business } = await callOrThrow(
        accounts,
        "createBusiness",
        {
          name,
          parentBusinessId: ctx.tenant.businessId,
          idempotencyKey: internalKey(`CreateChildBusiness:${ctx.tenant.businessId}`, req.idempotencyKey),
        },
        ctx.callOpts(),
      );
      // The parent's keys now reach the child: drop cached scopes.
      auth.clear();
      return { business };
    }),
    listChildBusinesses: rpc.unary("ListChildBusinesses", async (_req, ctx) => ({
      businesses: await Promise.all(ctx.tenant.children.map((id) => getBusiness(id, ctx))),
    })),
    createApiKey: rpc.mutation("CreateApiKey", null, async (req, ctx) => {
      const businessId = target(ctx.tenant, req.businessId);
      const name = req.name?.trim() ?? "";
      if (!name || name.length > 100)
        throw new ValidationError([
          { field: "name", description: name ? "must be at most 100 characters" : "is required" },
        ]);
      const res = await callOrThrow(
        accounts,
        "createApiKey",
        { businessId, name, idempotencyKey: internalKey("CreateApiKey", req.idempotencyKey) },
        ctx.callOpts(),
      );
      return { apiKey: res.apiKey, key: res.key };
    }),
    listApiKeys: rpc.unary("ListApiKeys", async (req, ctx) => {
      const businessId = target(ctx.tenant, req.businessId);
      return { keys: (await callOrThrow(accounts, "listApiKeys", { businessId }, ctx.callOpts())).keys };
    }),
    revokeApiKey: rpc.mutation("RevokeApiKey", BusinessServiceRevokeApiKeyResponse, async (req, ctx) => {
      if (!KEY.test(req.keyId ?? ""))
        throw new ValidationError([{ field: "key_id", description: "must be a key id like key_…" }]);
      const businessId = target(ctx.tenant, req.businessId);
      const { key } = await callOrThrow(
        accounts,
        "revokeApiKey",
        { businessId, keyId: req.keyId },
        ctx.callOpts(),
      );
      auth.clear();
      return { key };
    }),
  };
}
