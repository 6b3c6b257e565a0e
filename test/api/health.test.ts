import { type ClientReadableStream, credentials, loadPackageDefinition, status } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisRateLimiter } from "../../gateway/api/index.ts";
import { call } from "../../services/grpc/index.ts";
import { startRedis } from "../infra/index.ts";
import { type ApiHarness, collect, createWorkflowRequest, failure, startApi } from "./harness.ts";

const SERVICES = [
  "",
  "linkflow.v1.WorkflowService",
  "linkflow.v1.TemplateService",
  "linkflow.v1.BusinessService",
  "linkflow.v1.WebhookService",
  "linkflow.v1.CustomerService",
  "linkflow.v1.FinancialAccountService",
  "linkflow.v1.TransactionService",
];

interface HealthClient {
  Check(req: { service: string }, cb: (err: { code: number } | null, res: { status: string }) => void): void;
  Watch(req: { service: string }): ClientReadableStream<{ status: string }>;
  List(
    req: object,
    cb: (err: { code: number } | null, res: { statuses: Record<string, { status: string }> }) => void,
  ): void;
  close(): void;
}

/** A grpc.health.v1 client from the health proto (what load balancers and grpcurl use). */
function healthClient(address: string): HealthClient {
  const def = loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
  // biome-ignore lint/suspicious/noExplicitAny: a dynamically loaded client
  const pkg = loadPackageDefinition(def) as any;
  return new pkg.grpc.health.v1.Health(address, credentials.createInsecure());
}

const check = (h: HealthClient, service: string) =>
  new Promise<string>((resolve, reject) =>
    h.Check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))),
  );

/** A Watch stream: the statuses it sent so far, and how it ends. */
function watch(h: HealthClient, service: string) {
  const c = collect(h.Watch({ service }));
  return { ...c, statuses: () => c.got.map((m) => m.status) };
}

describe("grpc.health.v1 of the public API", () => {
  let api: ApiHarness;
  let health: HealthClient;
  beforeAll(async () => {
    api = await startApi({ health: { watchIntervalMs: 100 } });
    health = healthClient(api.address);
  });
  afterAll(async () => {
    health?.close();
    await api?.stop();
  });

  it("Check answers SERVING overall and for every public service; an unknown name is NOT_FOUND", async () => {
    for (const s of SERVICES) expect(await check(health, s), s || "(overall)").toBe("SERVING");
    expect(await check(health, "linkflow.v1.AccountsService").catch((e) => e.code)).toBe(status.NOT_FOUND);
    const listed = await new Promise<Record<string, { status: string }>>((resolve, reject) =>
      health.List({}, (err, res) => (err ? reject(err) : resolve(res.statuses))),
    );
    expect(Object.keys(listed).sort()).toEqual([...SERVICES].sort());
    expect(new Set(Object.values(listed).map((s) => s.status))).toEqual(new Set(["SERVING"]));
  });

  it("draining turns every service NOT_SERVING, for Check and for watchers, and back", async () => {
    const overall = watch(health, "");
    const workflows = watch(health, "linkflow.v1.WorkflowService");
    const unknown = watch(health, "no.such.Service");
    await expect.poll(() => overall.statuses()).toEqual(["SERVING"]);
    await expect.poll(() => workflows.statuses()).toEqual(["SERVING"]);
    await expect.poll(() => unknown.statuses()).toEqual(["SERVICE_UNKNOWN"]);

    api.health.setServing(false);
    await expect.poll(() => overall.statuses()).toEqual(["SERVING", "NOT_SERVING"]);
    await expect.poll(() => workflows.statuses()).toEqual(["SERVING", "NOT_SERVING"]);
    for (const s of SERVICES) expect(await check(health, s), s || "(overall)").toBe("NOT_SERVING");

    api.health.setServing(true);
    await expect.poll(() => overall.statuses()).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    for (const s of SERVICES) expect(await check(health, s), s || "(overall)").toBe("SERVING");
    expect(unknown.statuses()).toEqual(["SERVICE_UNKNOWN"]);
    for (const w of [overall, workflows, unknown]) {
      w.stream.cancel();
      expect((await w.done).code).toBe(status.CANCELLED);
    }
  });

  it("shutdown tells watchers NOT_SERVING, then ends health and workflow watches so the server can stop", async () => {
    const { workflow } = await call(
      api.workflows,
      "createWorkflow",
      createWorkflowRequest({ customerPhone: "+14155550601" }),
      api.asA(),
    );
    const wf = collect(
      api.workflows.watchWorkflow({ workflowId: workflow!.id, afterSequence: 0 }, api.auth(api.a.apiKey)),
    );
    await expect.poll(() => wf.got.map((m) => m.event?.type)).toContain("workflow.created");
    const overall = watch(health, "");
    await expect.poll(() => overall.statuses()).toEqual(["SERVING"]);

    api.health.shutdown();
    expect(await overall.done).toEqual({ code: status.OK });
    expect(overall.statuses()).toEqual(["SERVING", "NOT_SERVING"]);
    // The workflow watch ends retryably, so its client resumes from its last sequence on another node.
    expect(await wf.done).toMatchObject({ code: status.UNAVAILABLE, reason: "shutting_down" });
    expect(await check(health, "")).toBe("NOT_SERVING");
  });
});

describe("grpc.health.v1 with a dependency down", () => {
  let api: ApiHarness;
  let health: HealthClient;
  let redisServer: Awaited<ReturnType<typeof startRedis>>;
  let redis: Redis;
  beforeAll(async () => {
    redisServer = await startRedis();
    redis = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    // Reconnection errors are expected once the server is stopped; the limiter's calls report them.
    redis.on("error", () => {});
    await redis.connect();
    api = await startApi({
      rateLimiter: new RedisRateLimiter(redis),
      health: { probeTimeoutMs: 300, watchIntervalMs: 100 },
    });
    health = healthClient(api.address);
  });
  afterAll(async () => {
    health?.close();
    await api?.stop();
    redis?.disconnect();
    await redisServer?.stop();
  });

  it("reports NOT_SERVING while the rate-limit store is unreachable, and calls fail retryably", async () => {
    expect(await check(health, "")).toBe("SERVING");
    const watcher = watch(health, "linkflow.v1.TemplateService");
    await expect.poll(() => watcher.statuses()).toEqual(["SERVING"]);

    await redisServer.stop();
    await expect.poll(() => check(health, ""), { timeout: 10_000 }).toBe("NOT_SERVING");
    expect(await check(health, "linkflow.v1.WorkflowService")).toBe("NOT_SERVING");
    await expect.poll(() => watcher.statuses(), { timeout: 10_000 }).toEqual(["SERVING", "NOT_SERVING"]);
    expect(
      await failure(call(api.templates, "listTemplates", { includeArchived: false }, api.asA())),
    ).toMatchObject({ code: status.UNAVAILABLE, reason: "rate_limit_unavailable" });
    watcher.stream.cancel();
  });
});

describe("grpc.health.v1 of a node shutting down", () => {
  let api: ApiHarness;
  let health: HealthClient;
  beforeAll(async () => {
    api = await startApi();
    health = healthClient(api.stack.node.grpcAddress);
  });
  afterAll(async () => {
    health?.close();
    await api?.stop();
  });

  it("a watcher of the node's public API hears NOT_SERVING, then its stream ends as the node stops", async () => {
    const overall = watch(health, "");
    await expect.poll(() => overall.statuses()).toEqual(["SERVING"]);
    const stopping = api.stack.node.stop();
    expect(await overall.done).toEqual({ code: status.OK });
    expect(overall.statuses()).toEqual(["SERVING", "NOT_SERVING"]);
    await stopping;
  });
});
