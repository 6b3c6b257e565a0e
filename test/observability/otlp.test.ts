import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { ConsoleSpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exporterFromEnv, inSpan, resourceAttributesFromEnv, setupTracing } from "../../core/index.ts";
import { type OtlpReceiverHandle, startOtlpReceiver } from "../infra/index.ts";

// The configuration surface of tracing, in this process; traces.test.ts covers whole nodes.
let otlp: OtlpReceiverHandle;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
});

afterAll(async () => {
  await otlp?.stop();
});

describe("tracing configured by the standard OTEL_* variables", () => {
  it("exports nothing unless asked, refuses OTLP protocols other than http/json", () => {
    expect(exporterFromEnv({})).toBeUndefined();
    expect(exporterFromEnv({ OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
    expect(exporterFromEnv({ OTEL_TRACES_EXPORTER: "console" })).toBeInstanceOf(ConsoleSpanExporter);
    expect(exporterFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })).toBeInstanceOf(OTLPTraceExporter);
    expect(() =>
      exporterFromEnv({ OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }),
    ).toThrow(/grpc is not supported/);
  });

  it("names the service and the process, with OTEL_SERVICE_NAME over OTEL_RESOURCE_ATTRIBUTES", () => {
    const a = resourceAttributesFromEnv({
      OTEL_RESOURCE_ATTRIBUTES: "service.name=ignored,deployment.environment=staging%20eu,broken",
      OTEL_SERVICE_NAME: "linkflow-eu",
    });
    expect(a).toMatchObject({
      "service.name": "linkflow-eu",
      "deployment.environment": "staging eu",
      "process.pid": process.pid,
    });
    expect(a).not.toHaveProperty("broken");
    expect(resourceAttributesFromEnv({})["service.name"]).toBe("linkflow");
    // Each process (each call) is its own service instance.
    expect(a["service.instance.id"]).not.toBe(resourceAttributesFromEnv({})["service.instance.id"]);
  });

  it("samples as OTEL_TRACES_SAMPLER says", async () => {
    const exportOne = async (name: string) => {
      const exporter = exporterFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })!;
      const tracing = setupTracing({ exporter, batch: true });
      await inSpan(name, {}, async () => {});
      await tracing.shutdown();
    };
    process.env.OTEL_TRACES_SAMPLER = "always_off";
    try {
      await exportOne("sampler.off");
    } finally {
      delete process.env.OTEL_TRACES_SAMPLER;
    }
    await exportOne("sampler.default");
    expect(otlp.spans.map((s) => s.name)).toContain("sampler.default");
    expect(otlp.spans.map((s) => s.name)).not.toContain("sampler.off");
  });

  it("OTLP spans reach the endpoint with their resource, flushed by shutdown", async () => {
    const exporter = exporterFromEnv({
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: `${otlp.url}/`,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    });
    const tracing = setupTracing({ exporter: exporter!, batch: true, resource: { "test.run": "otlp" } });
    await inSpan("otlp.parent", {}, () => inSpan("otlp.child", { "test.attr": 7 }, async () => {}));
    expect(otlp.spans.filter((s) => s.name.startsWith("otlp."))).toHaveLength(0);
    await tracing.shutdown();
    const child = otlp.spans.find((s) => s.name === "otlp.child");
    const parent = otlp.spans.find((s) => s.name === "otlp.parent");
    expect(child?.attributes["test.attr"]).toBe(7);
    expect(child?.parentSpanId).toBe(parent?.spanId);
    expect(child?.traceId).toBe(parent?.traceId);
    expect(child?.resource).toMatchObject({ "test.run": "otlp", "process.pid": process.pid });
  });
});
