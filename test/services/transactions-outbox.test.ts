import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransactionStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import {
  createTransactionsService,
  type TransactionStatusChangeEvent,
  type TransactionsServiceHandle,
} from "../../services/transactions/index.ts";
import { captureLogs } from "./helpers.ts";
import { startTransactions, type TransactionsStack } from "./stack.ts";

const logs = captureLogs();
const PENDING_MS = 30_000;

let env: TransactionsStack;

beforeAll(async () => {
  env = await startTransactions();
});

afterAll(async () => {
  await env?.close();
  logs.restore();
});

async function party() {
  const biz = await env.accounts.business();
  const cus = await env.accounts.customer(biz);
  return { biz, cus, debit: await env.accounts.card(biz, cus, "4000056655665556") };
}

/** Polls `check` until it holds (each round lets the services run); fails after `rounds`. */
async function until(check: () => Promise<boolean>, what: string, rounds = 2000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

/** Sessions of this database sitting in an open transaction whose last statement touched an idempotency claim. */
const openClaims = async () =>
  Number(
    (
      await env.sql`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid()
          and state like 'idle in transaction%' and query ilike '%idempotency%'`
    )[0]?.n,
  );

const published = async (transactionId: string) =>
  env.sql<{ status: string; published_at: Date | null; claimed_until: Date | null }[]>`
    select status, published_at, claimed_until from transactions.status_changes
    where transaction_id = ${transactionId} and status <> 'new' order by id`;

const eventsOf = async (transactionId: string) =>
  (
    await env.sql<{ payload: { status: string } }[]>`
      select payload from notifications.events where payload->>'transaction_id' = ${transactionId} order by id`
  ).map((e) => e.payload.status);

describe("CreateTransaction and the accounts service", () => {
  it("asks CheckTransactable with no database transaction open; concurrent retries still create one transaction", async () => {
    const p = await party();
    const request = env.request(p, { idempotencyKey: "retry-storm-1" });
    const hold = env.accounts.holdCheckTransactable();
    const calls = Array.from({ length: 5 }, () => call(env.client, "createTransaction", request));
    try {
      await until(async () => hold.waiting() === 5, "five CheckTransactable calls held");
      // While accounts is slow to answer, no claim is held open in a transaction.
      expect(await openClaims()).toBe(0);
    } finally {
      hold.release();
    }
    const results = await Promise.all(calls);
    expect(new Set(results.map((r) => r.transaction!.id)).size).toBe(1);
    expect(results.map((r) => r.transaction)).toEqual(results.map(() => results[0]!.transaction));
    const rows = await env.sql`select id from transactions.transactions where customer_id = ${p.cus}`;
    expect(rows.map((r) => r.id)).toEqual([results[0]!.transaction!.id]);
  });

  it("answers a finished retry from the stored result without asking accounts again", async () => {
    const p = await party();
    const request = env.request(p, { idempotencyKey: "stored-answer-1" });
    const first = await call(env.client, "createTransaction", request);
    // A held CheckTransactable would hang this call if it were asked.
    const hold = env.accounts.holdCheckTransactable();
    try {
      const again = await call(env.client, "createTransaction", request, { timeoutMs: 5_000 });
      expect(again).toEqual(first);
      expect(hold.waiting()).toBe(0);
    } finally {
      hold.release();
    }
  });
});

describe("the status-change outbox", () => {
  it("tells in-process listeners only after the change committed and was marked published", async () => {
    const p = await party();
    const reads: Promise<{ status: string; seen: string | undefined; published: boolean }>[] = [];
    const stop = env.txns.onStatusChange((e) => {
      if (e.customerId !== p.cus) return;
      // Another connection: it sees only what has committed.
      reads.push(
        env.sql<{ current: string; published_at: Date | null }[]>`
          select t.status as current, c.published_at from transactions.transactions t
          join transactions.status_changes c on c.transaction_id = t.id and c.status = ${e.status}
          where t.id = ${e.transactionId}`.then(([r]) => ({
          status: e.status,
          seen: r?.current,
          published: r?.published_at != null,
        })),
      );
    });
    try {
      const t = (await call(env.client, "createTransaction", env.request(p))).transaction!;
      await env.advance(PENDING_MS);
      await env.advance(5_000);
      await until(async () => reads.length === 3, "three status changes heard");
      const seen = await Promise.all(reads);
      expect(seen.map((r) => r.status)).toEqual(["pending", "processing", "settled"]);
      for (const r of seen) {
        expect(r.seen, `listener for ${r.status} read the transaction`).toBeDefined();
        expect(r.published, `the ${r.status} change was committed as published`).toBe(true);
      }
      expect((await published(t.id)).every((r) => r.published_at && !r.claimed_until)).toBe(true);
    } finally {
      stop();
    }
  });

  it("keeps changes while notifications is down and publishes them all, in order, once it is back", async () => {
    const p = await party();
    await env.stopNotifications();
    let t: { id: string };
    try {
      t = (await call(env.client, "createTransaction", env.request(p))).transaction!;
      await env.advance(PENDING_MS);
      await env.txns.runDue();
      expect(
        (await call(env.client, "getTransaction", { businessId: p.biz, transactionId: t.id })).transaction
          ?.status,
      ).toBe(TransactionStatus.TRANSACTION_STATUS_PROCESSING);
      // Nothing published, nothing left claimed: the next pass may take them at once.
      expect(await published(t.id)).toEqual([
        { status: "pending", published_at: null, claimed_until: null },
        { status: "processing", published_at: null, claimed_until: null },
      ]);
      expect(env.heard.filter((e) => e.transactionId === t.id)).toEqual([]);
    } finally {
      await env.startNotifications();
    }
    await until(async () => {
      await env.txns.runDue();
      return (await eventsOf(t.id)).length === 2;
    }, "both events published after the outage");
    expect(await eventsOf(t.id)).toEqual(["pending", "processing"]);
    expect(env.heard.filter((e) => e.transactionId === t.id).map((e) => e.status)).toEqual([
      "pending",
      "processing",
    ]);
  });

  it("marks what got through when a batch fails midway, and hands the rest back to be published later", async () => {
    const p = await party();
    await env.stopNotifications();
    let first = "";
    let second = "";
    try {
      first = (await call(env.client, "createTransaction", env.request(p))).transaction!.id;
      second = (await call(env.client, "createTransaction", env.request(p))).transaction!.id;
      await env.txns.runDue();
      // An event notifications refuses (its workflow id is malformed), right behind one it takes.
      await env.sql`update transactions.transactions set workflow_id = 'not-a-workflow' where id = ${second}`;
    } finally {
      await env.startNotifications();
    }
    await until(async () => {
      await env.txns.runDue();
      return (await eventsOf(first)).length === 1;
    }, "the first change published");
    expect(await published(first)).toEqual([
      { status: "pending", published_at: expect.any(Date), claimed_until: null },
    ]);
    expect(await published(second)).toEqual([{ status: "pending", published_at: null, claimed_until: null }]);
    const heard = (id: string) => env.heard.filter((e) => e.transactionId === id).map((e) => e.status);
    expect(heard(first)).toEqual(["pending"]);
    expect(heard(second)).toEqual([]);
    await env.sql`update transactions.transactions set workflow_id = '' where id = ${second}`;
    await until(async () => {
      await env.txns.runDue();
      return (await eventsOf(second)).length === 1;
    }, "the handed-back change published");
    expect(heard(second)).toEqual(["pending"]);
    expect(heard(first)).toEqual(["pending"]);
  });

  it("publishes a change again after a crash before it was marked, and the receiver keeps one event", async () => {
    const p = await party();
    const id = (await call(env.client, "createTransaction", env.request(p))).transaction!.id;
    await until(async () => {
      await env.txns.runDue();
      return (await eventsOf(id)).length === 1;
    }, "the pending change published");
    // As if the node died between publishing and marking the change published.
    await env.sql`update transactions.status_changes set published_at = null where transaction_id = ${id}
      and status = 'pending'`;
    const heardBefore = env.heard.filter((e) => e.transactionId === id).length;
    await env.txns.runDue();
    expect((await published(id))[0]?.published_at).not.toBeNull();
    expect(env.heard.filter((e) => e.transactionId === id)).toHaveLength(heardBefore + 1);
    expect(await eventsOf(id)).toEqual(["pending"]);
  });

  it("leaves a batch another node holds until its lease lapses, then publishes it", async () => {
    const p = await party();
    await env.stopNotifications();
    let id = "";
    try {
      id = (await call(env.client, "createTransaction", env.request(p))).transaction!.id;
      await env.txns.runDue();
      // Another node claimed the change and died mid-batch.
      await env.sql`update transactions.status_changes set claimed_until = now() + interval '1 hour'
        where transaction_id = ${id} and published_at is null`;
    } finally {
      await env.startNotifications();
    }
    // The transaction moves on; its later change must not overtake the held one.
    await env.advance(PENDING_MS);
    // Once notifications answers again (another change gets through), the held one still waits.
    const other = (await call(env.client, "createTransaction", env.request(await party()))).transaction!.id;
    await until(async () => {
      await env.txns.runDue();
      return (await eventsOf(other)).length === 1;
    }, "an unclaimed change published");
    expect(await eventsOf(id)).toEqual([]);
    expect((await published(id)).map((r) => r.status)).toEqual(["pending", "processing"]);
    await env.sql`update transactions.status_changes set claimed_until = now() - interval '1 second'
      where transaction_id = ${id} and published_at is null`;
    await until(async () => {
      await env.txns.runDue();
      return (await eventsOf(id)).length === 2;
    }, "the lapsed claim published");
    expect(await eventsOf(id)).toEqual(["pending", "processing"]);
  });
});

describe("two outbox passes at once (another node on the same database)", () => {
  let other: TransactionsServiceHandle;
  const heardByOther: TransactionStatusChangeEvent[] = [];
  /** Every time a listener on either node heard a change of `id`. */
  const heardOf = (id: string) =>
    [...env.heard, ...heardByOther].filter((e) => e.transactionId === id).map((e) => e.status);
  /** What each node's listeners heard of `id`, node by node. */
  const heardOnEachNode = (id: string) =>
    [env.heard, heardByOther].map((h) => h.filter((e) => e.transactionId === id).map((e) => e.status));

  beforeAll(() => {
    other = createTransactionsService({
      sql: env.sql,
      clock: env.clock,
      accounts: env.accounts.client,
      notifications: env.notifications,
      // Its passes run when the test (or the clock) asks, not on a timer.
      rails: { pollIntervalMs: 3_600_000 },
    });
    other.onStatusChange((e) => heardByOther.push(e));
  });

  afterAll(async () => {
    await other?.close();
  });

  /**
   * A transaction whose first change a pass on this node claimed and is
   * publishing (held), with the claim's lease lapsed, as after a publish
   * slower than the lease; then the other node's pass publishes it.
   */
  async function overtakenPass() {
    const p = await party();
    const hold = env.holdNextPublish();
    const id = (await call(env.client, "createTransaction", env.request(p))).transaction!.id;
    await until(async () => hold.held(), "this node's pass publishing the change");
    await env.sql`update transactions.status_changes set claimed_until = now() - interval '1 second'
      where transaction_id = ${id}`;
    await other.runDue();
    const [row] = await published(id);
    expect(row).toEqual({ status: "pending", published_at: expect.any(Date), claimed_until: null });
    return { id, hold, publishedAt: row!.published_at };
  }

  it("a pass whose lease lapsed while it published does not tell the change again", async () => {
    const { id, hold } = await overtakenPass();
    hold.release();
    // Waits for this node's slow pass to finish (and runs one more).
    await env.txns.runDue();
    expect(heardOf(id)).toEqual(["pending"]);
    expect(await eventsOf(id)).toEqual(["pending"]);
    expect(await published(id)).toEqual([
      { status: "pending", published_at: expect.any(Date), claimed_until: null },
    ]);
  });

  it("a pass whose publish fails after its lease lapsed leaves the other pass's mark alone", async () => {
    const { id, hold, publishedAt } = await overtakenPass();
    // A later clock: were the change unmarked and published again, its published_at would move.
    env.clock.advance(1_000);
    hold.release({ fail: true });
    await env.txns.runDue();
    expect(await published(id)).toEqual([
      { status: "pending", published_at: publishedAt, claimed_until: null },
    ]);
    expect(heardOf(id)).toEqual(["pending"]);
    expect(await eventsOf(id)).toEqual(["pending"]);
  });

  it("passes on both nodes at once publish and tell each change once, in order per transaction", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++)
      ids.push((await call(env.client, "createTransaction", env.request(await party()))).transaction!.id);
    const both = () => Promise.all([env.txns.runDue(), other.runDue(), env.txns.runDue(), other.runDue()]);
    await both();
    // Moving the shared clock starts a pass on each node too.
    env.clock.advance(PENDING_MS);
    await both();
    env.clock.advance(5_000);
    await until(async () => {
      await both();
      const counts = await Promise.all(ids.map(async (id) => (await eventsOf(id)).length));
      return counts.every((n) => n === 3);
    }, "every change published");
    for (const id of ids) {
      expect(await eventsOf(id), id).toEqual(["pending", "processing", "settled"]);
      const lifecycle = ["pending", "processing", "settled"];
      expect(heardOf(id).sort(), id).toEqual(lifecycle);
      // Each node tells the changes it marked in the order they happened.
      for (const onNode of heardOnEachNode(id))
        expect(onNode, id).toEqual(lifecycle.filter((s) => onNode.includes(s)));
      expect(
        (await published(id)).every((r) => r.published_at && !r.claimed_until),
        id,
      ).toBe(true);
    }
  });
});
