import { type ClientReadableStream, credentials, loadPackageDefinition, status } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Sql } from "../../core/index.ts";
import { createAccountsClient, createAccountsService } from "../../services/accounts/index.ts";
import { call, type ListeningServer, listen } from "../../services/grpc/index.ts";
import {
  createNotificationsService,
  migrateNotifications,
  type NotificationsServiceHandle,
  OutboxEmailSender,
  OutboxSmsSender,
} from "../../services/notifications/index.ts";
import { createTestDatabase, freePort } from "../infra/index.ts";
import { rejected } from "./helpers.ts";
import { type AccountsStack, startAccounts } from "./stack.ts";

interface HealthClient {
  Check(req: { service: string }, cb: (err: { code: number } | null, res: { status: string }) => void): void;
  Watch(req: { service: string }): ClientReadableStream<{ status: string }>;
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

const ACCOUNTS = "linkflow.v1.AccountsService";
const NOTIFICATIONS = "linkflow.v1.NotificationsService";

let env: AccountsStack;
let health: HealthClient;

beforeAll(async () => {
  env = await startAccounts();
  health = healthClient(env.server.address);
});

afterAll(async () => {
  health?.close();
  await env?.close();
});

describe("grpc.health.v1 of the internal services", () => {
  it("reports a service whose database answers SERVING, under its name and overall; others are unknown", async () => {
    expect(await check(health, "")).toBe("SERVING");
    expect(await check(health, ACCOUNTS)).toBe("SERVING");
    const unknown = await rejected(check(health, "linkflow.v1.WorkflowService"));
    expect(unknown.code).toBe(status.NOT_FOUND);
  });

  describe("with one service's database down", () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let good: Sql;
    let dead: Sql;
    let notifications: NotificationsServiceHandle;
    let server: ListeningServer;
    let h: HealthClient;

    beforeAll(async () => {
      db = await createTestDatabase();
      good = connect(db.url);
      await migrateNotifications(good);
      // Nothing listens there: every query of this pool fails to connect.
      dead = connect(`postgres://linkflow@127.0.0.1:${await freePort()}/gone`);
      notifications = createNotificationsService({
        sql: good,
        clock: env.clock,
        sms: new OutboxSmsSender(good),
        email: new OutboxEmailSender(good),
      });
      server = await listen([createAccountsService({ sql: dead, clock: env.clock }), notifications]);
      h = healthClient(server.address);
    });

    afterAll(async () => {
      h?.close();
      await server?.close();
      await notifications?.close();
      await dead?.end({ timeout: 1 });
      await good?.end({ timeout: 5 });
      await db?.drop();
    });

    it("reports that service NOT_SERVING, the other SERVING, and the server as a whole NOT_SERVING", async () => {
      expect(await check(h, ACCOUNTS)).toBe("NOT_SERVING");
      expect(await check(h, NOTIFICATIONS)).toBe("SERVING");
      expect(await check(h, "")).toBe("NOT_SERVING");
      // The status is the truth: the service indeed cannot answer.
      const client = createAccountsClient(server.address);
      try {
        const err = await rejected(call(client, "getBusiness", { businessId: "biz_1" }));
        expect(err.code).not.toBe(status.NOT_FOUND);
      } finally {
        client.close();
      }
    });
  });

  it("on close tells watchers NOT_SERVING and ends their streams, so the server stops gracefully", async () => {
    const s = await startAccounts();
    const h = healthClient(s.server.address);
    try {
      const seen: string[] = [];
      const stream = h.Watch({ service: ACCOUNTS });
      const ended = new Promise<number>((resolve) => {
        stream.on("data", (m: { status: string }) => seen.push(m.status));
        stream.on("error", (e: { code: number }) => resolve(e.code));
        stream.on("end", () => resolve(status.OK));
      });
      await expect.poll(() => seen).toEqual(["SERVING"]);
      // A long grace: were the stream left open, close would wait it out (and the test time out).
      await s.server.close(600_000);
      expect(await ended).toBe(status.OK);
      expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
    } finally {
      h.close();
      await s.close();
    }
  });
});
