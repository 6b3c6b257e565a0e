import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Sql } from "../../core/index.ts";
import { bootstrapBusiness, loadTemplates, type NodeConfig } from "../../gateway/node/index.ts";
import { TransactionsServiceClient, WorkflowServiceClient, WorkflowStatus } from "../../proto/index.ts";
import { shardOf } from "../../runtime/index.ts";
import { call } from "../../services/grpc/index.ts";
import { TemplateStore } from "../../services/workflows/index.ts";
import {
  type ChromiumHandle,
  createTestDatabase,
  launchChromium,
  startNats,
  startRedis,
  startTwilioServer,
  startWebhookReceiver,
  type TwilioServerHandle,
} from "../infra/index.ts";
import { CustomerOnPhone } from "../support/customer.ts";
import { type NodeChild, spawnNode } from "../support/node-child.ts";
import { testNodeConfig } from "../support/node-config.ts";
import { linkIn } from "../support/stack.ts";

const root = new URL("../../", import.meta.url).pathname;
const SHARDS = 16;
const stops: Array<() => Promise<unknown>> = [];
let procs: NodeChild[] = [];
let sql: Sql;
let twilio: TwilioServerHandle;
let browser: ChromiumHandle;
let apiKey = "";
let businessId = "";

async function startNodeProcess(cfg: NodeConfig): Promise<NodeChild> {
  const n = await spawnNode(cfg);
  stops.push(async () => {
    if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill("SIGKILL");
  });
  return n;
}

beforeAll(async () => {
  browser = await launchChromium();
  stops.push(() => browser.close());
  const db = await createTestDatabase();
  stops.push(() => db.drop());
  const nats = await startNats();
  stops.push(() => nats.stop());
  const redis = await startRedis();
  stops.push(() => redis.stop());
  twilio = await startTwilioServer();
  stops.push(() => twilio.stop());
  const secrets: string[] = [];
  const hooks = await startWebhookReceiver({ secrets: () => secrets });
  stops.push(() => hooks.stop());
  const base = testNodeConfig(
    { databaseUrl: db.url, natsUrls: nats.urls, redisUrl: redis.url, twilio },
    {
      shardCount: SHARDS,
      tuning: {
        timerPollMs: 100,
        webhookPollMs: 100,
        // The runtime's own retry policies: a workflow must ride out the kills with them.
        effectRetry: undefined,
        webhookBaseBackoffMs: undefined,
        rails: {
          pendingMs: 200,
          pushToCardSettleMs: 200,
          achSettleMs: 400,
          achReturnMs: 400,
          pollIntervalMs: 100,
        },
      },
    },
  );
  // Start one node first so migrations run once, then two more.
  procs.push(await startNodeProcess(base));
  procs = [...procs, ...(await Promise.all([startNodeProcess(base), startNodeProcess(base)]))];
  sql = connect(db.url, { max: 2 });
  stops.push(() => sql.end());
  await loadTemplates(new TemplateStore(sql), `${root}examples`);
  const b = await bootstrapBusiness(procs[0]!.info.internalAddress, {
    name: "Failover Inc",
    webhookUrl: hooks.url,
  });
  secrets.push(b.webhookSecret!);
  apiKey = b.apiKey;
  businessId = b.businessId;
  // Wait until the three nodes share the shards.
  for (const t0 = Date.now(); ; ) {
    const [row] = await sql<{ n: number }[]>`
      select count(distinct owner)::int as n from runtime.shard_leases where expires_at > now()`;
    if (row?.n === 3) break;
    if (Date.now() - t0 > 15_000) throw new Error("the three nodes did not share the shards");
    await new Promise((r) => setTimeout(r, 200));
  }
}, 120_000);

afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
});

describe("a node killed with SIGKILL in the middle of a workflow", () => {
  it("the workflow completes on the survivors with exactly one customer and one transaction, also when its next owner is killed as the payout is approved", async () => {
    const md = new Metadata();
    md.set("authorization", `Bearer ${apiKey}`);
    const phone = "+14155553001";
    // Create through a node that will survive; then kill the owner of the workflow's shard.
    const api = new WorkflowServiceClient(procs[0]!.info.grpcAddress, credentials.createInsecure());
    const { workflow } = await call(
      api,
      "createWorkflow",
      {
        templateName: "onboard_and_pay",
        templateVersion: 0,
        inputs: { amount: "60.00 USD" },
        customerPhone: phone,
        customerEmail: "",
        customerId: "",
        channel: 0,
        externalId: "failover",
        memo: "",
        idempotencyKey: "failover-1",
      },
      { metadata: md },
    );
    const id = workflow!.id;
    const sms = await twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
    const link = linkIn(sms.body);
    // The same link on another node (links work on every node; the session cookie is the host's).
    const on = (n: NodeChild) => link.replace(/^https?:\/\/[^/]+/, `http://${n.info.httpAddress}`);
    /** Opens the link on `n` until the page is `title`: while a dead node's lease runs out it may ask to try again. */
    const reopen = async (n: NodeChild, title: string) => {
      for (let i = 0; i < 20; i++) {
        await page.goto(on(n));
        if ((await page.title()) === title) break;
        expect(await page.title()).toBe("Please try again");
        await page.waitForTimeout(500);
      }
      await c.waitForTitle(title);
    };
    const page = await browser.newPhonePage();
    const c = new CustomerOnPhone(page, twilio, phone);
    await page.goto(link);
    await c.waitForTitle("Enter your code");
    await c.enterCode(await c.latestCode());
    await c.waitForTitle("Confirm your details");
    await c.fill({ "First name": "Katherine", "Last name": "Johnson", Email: "kj@example.com" });
    await c.continue();
    await c.waitForTitle("Where should we send the money?");

    const shard = shardOf(id, SHARDS);
    const [lease] = await sql<
      { owner: string }[]
    >`select owner from runtime.shard_leases where shard = ${shard}`;
    const victim = procs.find((p) => p.info.nodeId === lease!.owner)!;
    expect(victim).toBeDefined();
    victim.child.kill("SIGKILL");
    const survivor = procs.find((p) => p !== victim)!;

    // The customer carries on through another node while the shard moves.
    await reopen(survivor, "Where should we send the money?");
    for (let i = 0; ; i++) {
      await page.getByLabel("Bank account", { exact: true }).check();
      await c.fill({
        "Routing number": "011000015",
        "Account number": "000555666777",
        "Name on the account": "K Johnson",
      });
      await c.continue();
      if ((await page.title()) === "Terms" || i >= 20) break;
      expect(["Please try again", "Where should we send the money?"]).toContain(await page.title());
      await page.waitForTimeout(500);
      await reopen(survivor, "Where should we send the money?");
    }
    await c.waitForTitle("Terms");
    for (const box of await page.getByRole("checkbox").all()) await box.check();
    await c.continue();
    await c.waitForTitle("Review your payment", 20_000);

    // A second SIGKILL, of the node that owns the workflow now, right after the customer approves
    // the payout: the transaction is being made while its node dies, and the last node makes it again.
    let owner2 = "";
    await expect
      .poll(async () => {
        const [l] = await sql<{ owner: string }[]>`
          select owner from runtime.shard_leases where shard = ${shard} and expires_at > now()`;
        owner2 = l?.owner ?? "";
        return owner2 !== "" && owner2 !== victim.info.nodeId;
      })
      .toBe(true);
    const second = procs.find((p) => p.info.nodeId === owner2)!;
    const last = procs.find((p) => p !== victim && p !== second)!;
    await reopen(last, "Review your payment");
    await c.continue("Approve");
    second.child.kill("SIGKILL");
    // The page refreshes itself while the payout is processed; a customer seeing "try again" reopens the link.
    for (const t0 = Date.now(); (await page.title()) !== "All done" && Date.now() - t0 < 30_000; ) {
      await page.waitForTimeout(500);
      if ((await page.title()) === "Please try again") await page.goto(on(last));
    }
    await c.waitForTitle("All done");
    await page.context().close();

    const api2 = new WorkflowServiceClient(last.info.grpcAddress, credentials.createInsecure());
    const got = (await call(api2, "getWorkflow", { workflowId: id }, { metadata: md })).workflow!;
    api2.close();
    api.close();
    expect(got.status).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
    const customers = await sql`select id from accounts.customers where business_id = ${businessId}`;
    expect(customers).toHaveLength(1);
    const txns = new TransactionsServiceClient(last.info.internalAddress, credentials.createInsecure());
    const list = (await call(txns, "listTransactions", {
      businessId,
      customerId: got.customerId,
    } as never)) as {
      transactions: { workflowId: string }[];
    };
    txns.close();
    expect(list.transactions.filter((t) => t.workflowId === id)).toHaveLength(1);
    // No event of the workflow was written under a fenced-off epoch after the takeover.
    const epochs = await sql<
      { epoch: string }[]
    >`select distinct epoch::text from runtime.events where actor_id = ${id} order by 1`;
    expect(epochs.length).toBeGreaterThanOrEqual(2);
    // The business event of the completion is published once, whichever node ran its effect.
    const completions = async () => {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from notifications.events
        where workflow_id = ${id} and type = 'workflow.completed'`;
      return row!.n;
    };
    await expect.poll(completions, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await completions()).toBe(1);
  });
});
