import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { DiagnosticSeverity } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { createWorkflowRequest, expectIdempotent, failure, useApiStack } from "./harness.ts";

const source = (
  version: number,
  title = "Payroll welcome",
) => `template payroll_welcome "${title}" version ${version}

link {
  send via sms
  expires in 7 days
}

step profile "Confirm your details" {
  collect individual { first_name, last_name required }
}
`;

const api = useApiStack();

describe("TemplateService", () => {
  it("validates source: diagnostics with codes and positions, without storing anything", async () => {
    const ok = await call(api.templates, "validateTemplate", { source: source(1), fileName: "" }, api.asA());
    expect(ok).toMatchObject({ valid: true, name: "payroll_welcome", version: 1, title: "Payroll welcome" });
    expect(ok.hash).toMatch(/^[0-9a-f]{64}$/);

    const bad = await call(
      api.templates,
      "validateTemplate",
      { source: source(1).replace("first_name, last_name", "first_name, nickname"), fileName: "pay.flow" },
      api.asA(),
    );
    expect(bad.valid).toBe(false);
    const d = bad.diagnostics.find((x) => x.severity === DiagnosticSeverity.DIAGNOSTIC_SEVERITY_ERROR)!;
    expect(d.code).toMatch(/^LF\d{4}$/);
    expect(d.file).toBe("pay.flow");
    expect(d.startLine).toBe(9);
    expect(d.startColumn).toBeGreaterThan(0);

    expect(
      await failure(call(api.templates, "getTemplate", { name: "payroll_welcome", version: 0 }, api.asA())),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it("rejects bad input on every field with field violations", async () => {
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => call(api.templates, "validateTemplate", { source: "", fileName: "" }, api.asA()), "source"],
      [
        () =>
          call(api.templates, "validateTemplate", { source: "x".repeat(300_000), fileName: "" }, api.asA()),
        "source",
      ],
      [
        () =>
          call(
            api.templates,
            "validateTemplate",
            { source: source(1), fileName: "../etc/passwd" },
            api.asA(),
          ),
        "file_name",
      ],
      [
        () =>
          call(
            api.templates,
            "publishTemplate",
            { source: " ", fileName: "", idempotencyKey: "" },
            api.asA(),
          ),
        "source",
      ],
      [
        () =>
          call(
            api.templates,
            "publishTemplate",
            { source: "template x", fileName: "", idempotencyKey: "" },
            api.asA(),
          ),
        "source",
      ],
      [
        () =>
          call(
            api.templates,
            "publishTemplate",
            { source: source(1), fileName: "a b", idempotencyKey: "" },
            api.asA(),
          ),
        "file_name",
      ],
      [
        () =>
          call(
            api.templates,
            "publishTemplate",
            { source: source(1), fileName: "", idempotencyKey: "k" },
            api.asA(),
          ),
        "idempotency_key",
      ],
      [() => call(api.templates, "getTemplate", { name: "", version: 0 }, api.asA()), "name"],
      [() => call(api.templates, "getTemplate", { name: "Bad-Name", version: 0 }, api.asA()), "name"],
      [() => call(api.templates, "getTemplate", { name: "welcome", version: -1 }, api.asA()), "version"],
      [() => call(api.templates, "listTemplateVersions", { name: "" }, api.asA()), "name"],
      [
        () => call(api.templates, "archiveTemplate", { name: "", version: 1, idempotencyKey: "" }, api.asA()),
        "name",
      ],
      [
        () =>
          call(
            api.templates,
            "archiveTemplate",
            { name: "welcome", version: 0, idempotencyKey: "" },
            api.asA(),
          ),
        "version",
      ],
      [
        () =>
          call(
            api.templates,
            "archiveTemplate",
            { name: "welcome", version: 1, idempotencyKey: "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9" },
            api.asA(),
          ),
        "idempotency_key",
      ],
    ];
    for (const [p, field] of cases) {
      const f = await failure(p());
      expect(f.code, field).toBe(status.INVALID_ARGUMENT);
      expect(f.fields, field).toContain(field);
    }
  });

  it("publishes immutable versions; republishing the same source is a no-op, other content under a version is refused", async () => {
    const v1 = await call(
      api.templates,
      "publishTemplate",
      { source: source(1), fileName: "", idempotencyKey: "" },
      api.asA(),
    );
    expect(v1.template).toMatchObject({
      name: "payroll_welcome",
      version: 1,
      shared: false,
      archived: false,
      businessId: api.a.businessId,
      source: source(1),
    });
    const again = await call(
      api.templates,
      "publishTemplate",
      { source: source(1), fileName: "", idempotencyKey: "" },
      api.asA(),
    );
    expect(again.template?.hash).toBe(v1.template?.hash);
    const clash = await failure(
      call(
        api.templates,
        "publishTemplate",
        { source: source(1, "Other title"), fileName: "", idempotencyKey: "" },
        api.asA(),
      ),
    );
    expect(clash).toMatchObject({ code: status.ALREADY_EXISTS, reason: "template_version_exists" });
    await call(
      api.templates,
      "publishTemplate",
      { source: source(2), fileName: "", idempotencyKey: "" },
      api.asA(),
    );
    const versions = await call(
      api.templates,
      "listTemplateVersions",
      { name: "payroll_welcome" },
      api.asA(),
    );
    expect(versions.templates.map((t) => t.version)).toEqual([2, 1]);
    const latest = await call(
      api.templates,
      "getTemplate",
      { name: "payroll_welcome", version: 0 },
      api.asA(),
    );
    expect(latest.template?.version).toBe(2);
  });

  it("honours idempotency keys: same key and request → same answer; same key, other request → refused", async () => {
    const req = { source: source(5), fileName: "", idempotencyKey: "publish-5-abcdef" };
    const first = await call(api.templates, "publishTemplate", req, api.asA());
    const second = await call(api.templates, "publishTemplate", req, api.asA());
    expect(second).toEqual(first);
    const reused = await failure(
      call(api.templates, "publishTemplate", { ...req, source: source(6) }, api.asA()),
    );
    expect(reused).toMatchObject({ code: status.FAILED_PRECONDITION, reason: "idempotency_key_reused" });
    // Keys belong to a business: another tenant may use the same key.
    const other = await call(api.templates, "publishTemplate", { ...req, source: source(6) }, api.asB());
    expect(other.template?.businessId).toBe(api.b.businessId);
  });

  it("counts usage per version over the tenant's own workflows", async () => {
    await call(
      api.workflows,
      "createWorkflow",
      createWorkflowRequest({
        templateName: "payroll_welcome",
        templateVersion: 2,
        customerPhone: "+14155550111",
      }),
      api.asA(),
    );
    const versions = await call(
      api.templates,
      "listTemplateVersions",
      { name: "payroll_welcome" },
      api.asA(),
    );
    const usage = Object.fromEntries(versions.templates.map((t) => [t.version, t.usage?.workflowCount]));
    expect(usage).toMatchObject({ 2: 1, 1: 0 });
    expect(versions.templates.find((t) => t.version === 2)?.usage?.lastUsedAt).toBeInstanceOf(Date);
    // The listing of shared templates shows the caller's usage only.
    const list = await call(api.templates, "listTemplates", { includeArchived: false }, api.asB());
    expect(list.templates.find((t) => t.name === "welcome")).toMatchObject({ shared: true, businessId: "" });
    expect(list.templates.find((t) => t.name === "payroll_welcome")?.usage?.workflowCount).toBe(0);
  });

  it("isolates tenants: another business's template is NOT_FOUND", async () => {
    const c = await call(api.templates, "listTemplates", { includeArchived: true }, api.asB());
    // B published its own payroll_welcome v6 only; A's versions are invisible.
    expect(c.templates.find((t) => t.name === "payroll_welcome")).toMatchObject({
      version: 6,
      businessId: api.b.businessId,
    });
    expect(
      await failure(call(api.templates, "getTemplate", { name: "payroll_welcome", version: 2 }, api.asB())),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(
      await failure(
        call(
          api.templates,
          "archiveTemplate",
          { name: "payroll_welcome", version: 2, idempotencyKey: "" },
          api.asB(),
        ),
      ),
    ).toMatchObject({ code: status.NOT_FOUND });
    expect(
      (await call(api.templates, "listTemplateVersions", { name: "payroll_welcome" }, api.asB())).templates,
    ).toHaveLength(1);
  });

  it("archives a version: hidden from latest, still readable by number; shared templates are read-only", async () => {
    const archived = await call(
      api.templates,
      "archiveTemplate",
      { name: "payroll_welcome", version: 2, idempotencyKey: "archive-2-abcdef" },
      api.asA(),
    );
    expect(archived.template).toMatchObject({ version: 2, archived: true });
    await call(
      api.templates,
      "archiveTemplate",
      { name: "payroll_welcome", version: 5, idempotencyKey: "" },
      api.asA(),
    );
    expect(
      (await call(api.templates, "getTemplate", { name: "payroll_welcome", version: 0 }, api.asA())).template
        ?.version,
    ).toBe(1);
    expect(
      (await call(api.templates, "getTemplate", { name: "payroll_welcome", version: 2 }, api.asA())).template
        ?.archived,
    ).toBe(true);
    expect(
      await failure(
        call(
          api.templates,
          "archiveTemplate",
          { name: "welcome", version: 1, idempotencyKey: "" },
          api.asA(),
        ),
      ),
    ).toMatchObject({ code: status.FAILED_PRECONDITION, reason: "template_shared" });
  });

  it("archives once per idempotency key; the key with another version is refused", async () => {
    const req = { name: "payroll_welcome", version: 1, idempotencyKey: "archive-1-once" };
    const archived = await expectIdempotent(
      () => call(api.templates, "archiveTemplate", req, api.asA()),
      () => call(api.templates, "archiveTemplate", { ...req, version: 2 }, api.asA()),
    );
    expect(archived.template).toMatchObject({ version: 1, archived: true });
    expect(
      (await call(api.templates, "getTemplate", { name: "payroll_welcome", version: 1 }, api.asA())).template
        ?.archived,
    ).toBe(true);
  });

  it("requires an API key", async () => {
    expect(await failure(call(api.templates, "listTemplates", { includeArchived: false }))).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    expect(
      await failure(
        call(
          api.templates,
          "listTemplates",
          { includeArchived: false },
          { metadata: api.auth("lf_test_nope") },
        ),
      ),
    ).toMatchObject({ code: status.UNAUTHENTICATED });
  });
});
