import { createServer } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { exporterFromEnv, inSpan, setupTracing } from "../../core/index.ts";

describe("OTLP export configured by the standard OTEL_* variables", () => {
  const received: { path: string; type: string; bytes: number }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c as Buffer));
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        type: String(req.headers["content-type"]),
        bytes: Buffer.concat(chunks).length,
      });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("OTEL_TRACES_EXPORTER=otlp sends spans to the configured endpoint; unset exports nothing", async () => {
    expect(exporterFromEnv({})).toBeUndefined();
    expect(exporterFromEnv({ OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const { port } = server.address() as { port: number };
    const exporter = exporterFromEnv({
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`,
    });
    expect(exporter).toBeDefined();
    const tracing = setupTracing({ exporter: exporter! });
    await inSpan("otlp.test", { "test.attr": 1 }, async () => {});
    await tracing.shutdown();
    await expect.poll(() => received.length, { timeout: 5000 }).toBeGreaterThan(0);
    expect(received[0]?.path).toBe("/v1/traces");
    expect(received[0]?.bytes).toBeGreaterThan(0);
  });
});
