import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { call } from "../../services/grpc/index.ts";
import { expectIdempotent, failure, useApiStack } from "./harness.ts";

const api = useApiStack();

const keysOf = async (businessId: string, as = api.asA()) =>
  (await call(api.businesses, "listApiKeys", { businessId }, as)).keys;

describe("BusinessService: idempotency keys", () => {
  it("CreateChildBusiness: one child per key and parent; another business's same key makes its own", async () => {
    const req = { name: "Acme North", idempotencyKey: "child-north-1" };
    const child = await expectIdempotent(
      () => call(api.businesses, "createChildBusiness", req, api.asA()),
      () => call(api.businesses, "createChildBusiness", { ...req, name: "Acme South" }, api.asA()),
    );
    expect(
      (await call(api.businesses, "listChildBusinesses", {}, api.asA())).businesses.map((b) => b.id),
    ).toEqual([child.business!.id]);
    const theirs = await call(api.businesses, "createChildBusiness", req, api.asB());
    expect(theirs.business!.id).not.toBe(child.business!.id);
    expect(theirs.business!.parentBusinessId).toBe(api.b.businessId);
  });

  it("CreateApiKey: one key per idempotency key; RevokeApiKey revokes once", async () => {
    const req = { businessId: "", name: "deploy", idempotencyKey: "apikey-deploy-1" };
    const first = await call(api.businesses, "createApiKey", req, api.asA());
    expect(first.apiKey).not.toBe("");
    const replay = await call(api.businesses, "createApiKey", req, api.asA());
    expect(replay.key?.id).toBe(first.key!.id);
    expect((await keysOf("")).filter((k) => k.name === "deploy").map((k) => k.id)).toEqual([first.key!.id]);
    expect(
      await failure(call(api.businesses, "createApiKey", { ...req, name: "other" }, api.asA())),
    ).toMatchObject({ code: status.FAILED_PRECONDITION, reason: "idempotency_key_reused" });

    const spare = await call(
      api.businesses,
      "createApiKey",
      { businessId: "", name: "spare", idempotencyKey: "" },
      api.asA(),
    );
    const revoke = { keyId: first.key!.id, businessId: "", idempotencyKey: "revoke-deploy-1" };
    const revoked = await expectIdempotent(
      () => call(api.businesses, "revokeApiKey", revoke, api.asA()),
      () => call(api.businesses, "revokeApiKey", { ...revoke, keyId: spare.key!.id }, api.asA()),
    );
    expect(revoked.key?.revokedAt).toBeInstanceOf(Date);
    // The refused reuse did not revoke the other key: it still authenticates.
    expect(
      (await call(api.businesses, "getBusiness", { businessId: "" }, { metadata: api.auth(spare.apiKey) }))
        .business?.id,
    ).toBe(api.a.businessId);
  });
});

describe("BusinessService: tenant isolation", () => {
  it("another tenant's business and keys are NOT_FOUND for reads, key creation and revocation", async () => {
    const key = await call(
      api.businesses,
      "createApiKey",
      { businessId: "", name: "iso", idempotencyKey: "" },
      api.asA(),
    );
    const a = api.a.businessId;
    const before = await keysOf("");
    for (const [name, p] of [
      ["GetBusiness", () => call(api.businesses, "getBusiness", { businessId: a }, api.asB())],
      ["ListApiKeys", () => call(api.businesses, "listApiKeys", { businessId: a }, api.asB())],
      [
        "CreateApiKey",
        () =>
          call(
            api.businesses,
            "createApiKey",
            { businessId: a, name: "stolen", idempotencyKey: "" },
            api.asB(),
          ),
      ],
      [
        "RevokeApiKey (naming the business)",
        () =>
          call(
            api.businesses,
            "revokeApiKey",
            { keyId: key.key!.id, businessId: a, idempotencyKey: "" },
            api.asB(),
          ),
      ],
      [
        "RevokeApiKey (own business)",
        () =>
          call(
            api.businesses,
            "revokeApiKey",
            { keyId: key.key!.id, businessId: "", idempotencyKey: "" },
            api.asB(),
          ),
      ],
    ] as const) {
      expect(await failure(p()), name).toMatchObject({ code: status.NOT_FOUND });
    }
    expect(await keysOf("")).toEqual(before);
    expect(
      (await call(api.businesses, "listChildBusinesses", {}, api.asB())).businesses.map((b) => b.id),
    ).not.toContain(a);
  });
});
