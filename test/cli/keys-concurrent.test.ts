/**
 * `linkflow keys reencrypt` next to a writer: a value a service changes while
 * a pass is sealing it again is left as the service made it (compare-and-set),
 * never put back.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Keyring, type Sql } from "../../core/index.ts";
import { migrateAccounts } from "../../services/accounts/index.ts";
import { call } from "../../services/grpc/index.ts";
import { migrateNotifications } from "../../services/notifications/index.ts";
import { createTestDatabase } from "../infra/index.ts";
import { eventually } from "../services/helpers.ts";
import { addBankAccount, createHolder, keysCli, servicesWith } from "./keys-harness.ts";

const k1 = randomBytes(32).toString("base64");
const OLD: Keyring = { currentKeyId: "k1", keys: { k1 } };
const ROTATED: Keyring = { currentKeyId: "k2", keys: { k1, k2: randomBytes(32).toString("base64") } };

// An advisory lock the test holds to stop the customer's erasure after it wrote, before it commits
// (a trigger on the accounts table waits for the lock when an account is disconnected).
const HOLD = 7_340_017;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url);
  await migrateAccounts(sql);
  await migrateNotifications(sql);
  await sql.unsafe(`
    create function accounts.test_hold_disconnect() returns trigger language plpgsql as $$
    begin
      if new.status = 'disconnected' and old.status <> 'disconnected' then perform pg_advisory_xact_lock(${HOLD}); end if;
      return new;
    end $$;
    create trigger test_hold_disconnect before update on accounts.financial_accounts
      for each row execute function accounts.test_hold_disconnect();`);
});

afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await db?.drop();
});

/** Sessions of this database waiting for a lock on `what` ("advisory" or "transactionid"). */
const waitingOn = async (what: string) =>
  Number(
    (
      await sql`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and wait_event = ${what}`
    )[0]?.n,
  );

describe("linkflow keys reencrypt with a concurrent writer", () => {
  it("does not put back an account number the customer's erasure removed meanwhile", async () => {
    const node = await servicesWith(sql, OLD);
    const holder = await createHolder(node.accounts);
    const account = await addBankAccount(node.accounts, holder, "000123456789");
    const blocker = await sql.reserve();
    let erasure: Promise<unknown> | undefined;
    try {
      await blocker`select pg_advisory_lock(${HOLD})`;
      // The erasure has nulled the number and holds the row, uncommitted.
      erasure = call(node.accounts, "deleteCustomer", { ...holder, idempotencyKey: "" });
      erasure.catch(() => {});
      await eventually(async () => ((await waitingOn("advisory")) === 1 ? true : undefined), "erasure held");
      // The pass read the number under k1 before the erasure committed, and now waits to write it.
      const pass = keysCli(db.url, ["reencrypt"], ROTATED);
      await eventually(
        async () => ((await waitingOn("transactionid")) === 1 ? true : undefined),
        "pass waiting on the erasure",
      );
      await blocker`select pg_advisory_unlock(${HOLD})`;
      await erasure;
      const r = await pass;
      expect(r.code).toBe(0);
      expect(r.out).toContain(
        "accounts.financial_accounts.number_ciphertext: 0 sealed again, 1 changed meanwhile, 0 failed",
      );
      expect(r.out).toContain("may still be under an older key");
    } finally {
      await blocker`select pg_advisory_unlock_all()`;
      blocker.release();
      await erasure?.catch(() => {});
      await node.stop();
    }
    const [row] = await sql<{ status: string; number_ciphertext: Buffer | null; key_id: string | null }[]>`
      select status, number_ciphertext, key_id from accounts.financial_accounts where id = ${account}`;
    expect(row).toEqual({ status: "disconnected", number_ciphertext: null, key_id: null });
    // Nothing is left under the old key: it can be retired.
    expect((await keysCli(db.url, ["status"], ROTATED)).out).toContain("no sealed value needs: k1");
  });
});
