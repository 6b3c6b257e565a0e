import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "../../services/grpc/index.ts";
import { eventually, rejected } from "./helpers.ts";
import { type AccountsStack, startAccounts } from "./stack.ts";

let env: AccountsStack;

// An advisory lock the test holds to stop a first attempt's statement midway: after it claimed its key,
// before it commits (a trigger on the acceptances table waits for the lock).
const HOLD = 7_340_001;

beforeAll(async () => {
  env = await startAccounts();
  await env.sql.unsafe(`
    create function accounts.test_hold_acceptance() returns trigger language plpgsql as $$
    begin
      if new.user_agent like 'held%' then perform pg_advisory_xact_lock(${HOLD}); end if;
      if new.user_agent = 'held then failing' then raise exception 'the first attempt fails'; end if;
      return new;
    end $$;
    create trigger test_hold_acceptance before insert on accounts.document_acceptances
      for each row execute function accounts.test_hold_acceptance();`);
});

afterAll(async () => {
  await env?.close();
});

const acceptance = (biz: string, cus: string, key: string, userAgent = "held") => ({
  businessId: biz,
  customerId: cus,
  documentId: "terms-of-service",
  version: "1",
  contentHash: `sha256:${"cd".repeat(32)}`,
  scope: "",
  acceptedAt: new Date(Date.UTC(2025, 5, 16, 14)),
  ip: "198.51.100.7",
  userAgent,
  idempotencyKey: key,
  workflowId: "",
});

/** Sessions of this database waiting for a lock on `what` ("advisory" or "transactionid"). */
const waitingOn = async (what: string) =>
  Number(
    (
      await env.sql`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and wait_event = ${what}`
    )[0]?.n,
  );

/**
 * Starts a first attempt with `request` and holds it after it claimed its key; deletes the customer; starts
 * the retry and checks it waits for the first attempt (rather than answering at once); then lets the first
 * attempt go on. Resolves to both outcomes.
 */
async function raceWithDeletion(request: ReturnType<typeof acceptance>) {
  const holder = await env.sql.reserve();
  const settle = (p: Promise<unknown>) =>
    p.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  let first: ReturnType<typeof settle> | undefined;
  try {
    await holder`select pg_advisory_lock(${HOLD})`;
    first = settle(call(env.client, "recordDocumentAcceptance", request));
    await eventually(
      async () => ((await waitingOn("advisory")) === 1 ? true : undefined),
      "first attempt held",
    );
    await call(env.client, "deleteCustomer", {
      businessId: request.businessId,
      customerId: request.customerId,
      idempotencyKey: "",
    });
    let answered = false;
    const retry = settle(call(env.client, "recordDocumentAcceptance", request)).finally(() => {
      answered = true;
    });
    await eventually(async () => {
      if (answered) throw new Error("the retry answered before the first attempt finished");
      return (await waitingOn("transactionid")) === 1 ? true : undefined;
    }, "retry waiting for the first attempt");
    await holder`select pg_advisory_unlock(${HOLD})`;
    const [a, b] = await Promise.all([first, retry]);
    return { first: a, retry: b };
  } finally {
    await holder`select pg_advisory_unlock_all()`;
    holder.release();
    await first;
  }
}

describe("a retry while the first attempt with its key is still committing", () => {
  it("answers with the first attempt's response even when the customer was deleted meanwhile", async () => {
    const biz = await env.business();
    const cus = await env.customer(biz);
    const { first, retry } = await raceWithDeletion(acceptance(biz, cus, "race-retry-1"));
    expect(first.ok && retry.ok).toBe(true);
    expect(retry).toEqual(first);
    const rows = await env.sql`select id from accounts.document_acceptances where customer_id = ${cus}`;
    expect(rows.map((r) => r.id)).toEqual([
      (first as { value: { acceptance: { id: string } } }).value.acceptance.id,
    ]);
  });

  it("is refused when the attempt it waited for failed, and the key stays free", async () => {
    const biz = await env.business();
    const cus = await env.customer(biz);
    const { first, retry } = await raceWithDeletion(
      acceptance(biz, cus, "race-failed-1", "held then failing"),
    );
    expect(first.ok).toBe(false);
    expect(retry.ok).toBe(false);
    expect(retry.ok ? 0 : (retry.error as { code: number }).code).toBe(status.NOT_FOUND);
    expect(await env.sql`select id from accounts.document_acceptances where customer_id = ${cus}`).toEqual(
      [],
    );
    expect(await env.sql`select key from accounts.idempotency where business_id = ${biz}`).toEqual([]);
  });

  it("is refused at once when no attempt holds the key, and claims nothing", async () => {
    const biz = await env.business();
    const cus = await env.customer(biz);
    await call(env.client, "deleteCustomer", { businessId: biz, customerId: cus, idempotencyKey: "" });
    const none = await rejected(
      call(env.client, "recordDocumentAcceptance", acceptance(biz, cus, "race-none-1", "not held")),
    );
    expect(none.code).toBe(status.NOT_FOUND);
    expect(await env.sql`select key from accounts.idempotency where business_id = ${biz}`).toEqual([]);
  });
});
