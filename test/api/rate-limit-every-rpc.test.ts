import { type Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { MemoryRateLimiter } from "../../gateway/api/index.ts";
import {
  BusinessServiceService,
  CustomerServiceService,
  FinancialAccountServiceService,
  TemplateServiceService,
  TransactionServiceService,
  WebhookServiceService,
  WorkflowServiceService,
} from "../../proto/index.ts";
import { call, readErrorCode } from "../../services/grpc/index.ts";
import { useApiStack } from "./harness.ts";

// One request per key, refilled only after ~17 minutes: a key's second call is over its budget.
const api = useApiStack({ rateLimiter: new MemoryRateLimiter({ burst: 1, perSecond: 0.001 }) });

interface MethodDef {
  path: string;
  responseStream: boolean;
  requestDeserialize(b: Buffer): unknown;
}

type AnyClient = Record<
  string,
  (req: unknown, md: Metadata, ...rest: unknown[]) => { on(e: string, f: (x: unknown) => void): void }
>;

/** Calls one method with an all-default request; resolves to the status (and error code) it ends with. */
function invoke(
  client: AnyClient,
  name: string,
  def: MethodDef,
  md: Metadata,
): Promise<{ code: number; reason?: string | undefined }> {
  const req = def.requestDeserialize(Buffer.alloc(0));
  const failed = (e: unknown) => ({ code: (e as { code: number }).code, reason: readErrorCode(e) });
  return new Promise((resolve) => {
    if (def.responseStream) {
      const s = client[name]!(req, md, { deadline: Date.now() + 10_000 });
      s.on("error", (e) => resolve(failed(e)));
      s.on("end", () => resolve({ code: status.OK }));
      s.on("data", () => {});
      return;
    }
    client[name]!(req, md, { deadline: Date.now() + 10_000 }, (err: unknown) =>
      resolve(err ? failed(err) : { code: status.OK }),
    );
  });
}

describe("every public RPC is rate limited per API key", () => {
  it("answers a key's call over its budget with RESOURCE_EXHAUSTED, whatever the method", async () => {
    const services: Array<[Record<string, MethodDef>, unknown]> = [
      [WorkflowServiceService, api.workflows],
      [TemplateServiceService, api.templates],
      [BusinessServiceService, api.businesses],
      [WebhookServiceService, api.webhooks],
      [CustomerServiceService, api.customers],
      [FinancialAccountServiceService, api.financialAccounts],
      [TransactionServiceService, api.transactions],
    ];
    let methods = 0;
    for (const [service, client] of services) {
      for (const [name, def] of Object.entries(service)) {
        methods++;
        const { apiKey } = await call(api.accounts, "createApiKey", {
          businessId: api.a.businessId,
          name: name.slice(0, 90),
          idempotencyKey: "",
        });
        // The first call spends the key's only token (its own answer does not matter here).
        const first = await invoke(client as AnyClient, name, def, api.auth(apiKey));
        expect(first.code, def.path).not.toBe(status.RESOURCE_EXHAUSTED);
        const second = await invoke(client as AnyClient, name, def, api.auth(apiKey));
        expect(second, def.path).toEqual({ code: status.RESOURCE_EXHAUSTED, reason: "rate_limited" });
      }
    }
    // Every method of the seven services was tried (a renamed or dropped service would show here).
    expect(methods).toBeGreaterThanOrEqual(40);
  });
});
