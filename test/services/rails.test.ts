import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Transaction,
  TransactionDirection,
  TransactionMethod,
  TransactionStatus,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import {
  ACH_RETURNS,
  CARD_DECLINES,
  CARD_ERRORS,
  NACHA_RETURN_REASONS,
} from "../../services/transactions/index.ts";
import { startTransactions, type TransactionsStack } from "./stack.ts";

const S = TransactionStatus;
const DAY = 86_400_000;
const PENDING_MS = 30_000;

/** The magic numbers as TEST_NUMBERS.md lists them: example number, last four, outcome text. */
function documented(
  section: "Bank accounts" | "Cards",
): { number: string; last4: string; outcome: string }[] {
  const doc = readFileSync(new URL("../../services/transactions/TEST_NUMBERS.md", import.meta.url), "utf8");
  const part = doc.split(/^## /m).find((p) => p.startsWith(section)) ?? "";
  return [...part.matchAll(/^\|\s*`(\d+)`\s*\|\s*`(\d{4})`\s*\|\s*([^|]+?)\s*\|/gm)].map((m) => ({
    number: m[1] ?? "",
    last4: m[2] ?? "",
    outcome: m[3] ?? "",
  }));
}

const BANK = documented("Bank accounts");
const CARDS = documented("Cards");

let env: TransactionsStack;
let biz = "";
let cus = "";

beforeAll(async () => {
  env = await startTransactions();
  biz = await env.accounts.business();
  cus = await env.accounts.customer(biz);
  // ACH debits need the customer's recorded authorization.
  await call(env.accounts.client, "recordDocumentAcceptance", {
    businessId: biz,
    customerId: cus,
    documentId: "ach-authorization",
    version: "1",
    contentHash: `sha256:${"0".repeat(64)}`,
    scope: "ach_debit_authorization",
    acceptedAt: new Date(env.clock.now()),
    ip: "198.51.100.7",
    userAgent: "test",
    idempotencyKey: "",
    workflowId: "",
  });
});

afterAll(async () => {
  await env?.close();
});

/** The status history as [status, return code, reason, ms after creation]. */
const history = (t: Transaction) =>
  t.statusHistory.map((h) => [
    h.status,
    h.returnCode,
    h.reason,
    h.changedAt!.getTime() - t.createdAt!.getTime(),
  ]);

const get = async (id: string) =>
  (await call(env.client, "getTransaction", { businessId: biz, transactionId: id })).transaction!;

describe("TEST_NUMBERS.md", () => {
  it("documents every magic number the simulator knows, each with its outcome, and no other", () => {
    expect(BANK.map((r) => r.last4).sort()).toEqual(Object.keys(ACH_RETURNS).sort());
    expect(CARDS.map((r) => r.last4).sort()).toEqual(
      [...Object.keys(CARD_DECLINES), ...Object.keys(CARD_ERRORS)].sort(),
    );
    for (const r of BANK) {
      expect(r.number.endsWith(r.last4), r.number).toBe(true);
      const code = ACH_RETURNS[r.last4] ?? "";
      expect(r.outcome).toContain(`\`${code}\``);
      expect(r.outcome).toContain(NACHA_RETURN_REASONS[code]);
    }
    for (const r of CARDS) {
      expect(r.number.endsWith(r.last4), r.number).toBe(true);
      const reason = CARD_DECLINES[r.last4] ?? CARD_ERRORS[r.last4] ?? "";
      expect(r.outcome).toBe(`${CARD_DECLINES[r.last4] ? "DECLINED" : "ERROR"}, \`${reason}\``);
    }
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    expect(readme).toContain("services/transactions/TEST_NUMBERS.md");
  });
});

describe("the payment-rails simulator on the injected clock", () => {
  it.each(BANK.map((r) => [r.number, r.last4] as const))(
    "ACH credit to %s settles next day, then is RETURNED with its NACHA code",
    async (number, last4) => {
      const code = ACH_RETURNS[last4]!;
      const fa = await env.accounts.bank(biz, cus, number);
      const created = (
        await call(
          env.client,
          "createTransaction",
          env.request(
            { biz, cus, debit: fa },
            { method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT, workflowId: "wf_rails" },
          ),
        )
      ).transaction!;
      await env.advance(PENDING_MS);
      await env.advance(DAY);
      expect((await get(created.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
      await env.advance(DAY - 1);
      expect((await get(created.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
      await env.advance(1);
      const done = await get(created.id);
      expect(done).toMatchObject({
        status: S.TRANSACTION_STATUS_RETURNED,
        returnCode: code,
        failureReason: NACHA_RETURN_REASONS[code],
      });
      expect(history(done)).toEqual([
        [S.TRANSACTION_STATUS_NEW, "", "created", 0],
        [S.TRANSACTION_STATUS_PENDING, "", "accepted", 0],
        [S.TRANSACTION_STATUS_PROCESSING, "", "", PENDING_MS],
        [S.TRANSACTION_STATUS_SETTLED, "", "", PENDING_MS + DAY],
        [S.TRANSACTION_STATUS_RETURNED, code, NACHA_RETURN_REASONS[code], PENDING_MS + 2 * DAY],
      ]);
      const heard = env.heard.filter((e) => e.transactionId === created.id);
      expect(heard.map((e) => [e.status, e.returnCode])).toEqual([
        ["pending", ""],
        ["processing", ""],
        ["settled", ""],
        ["returned", code],
      ]);
      const [event] = await env.sql<{ payload: { return_code: string; status: string } }[]>`
        select payload from notifications.events
        where payload->>'transaction_id' = ${created.id} and payload->>'status' = 'returned'`;
      expect(event?.payload.return_code).toBe(code);
      // A returned transaction rests.
      await env.advance(7 * DAY);
      expect((await get(created.id)).statusHistory).toHaveLength(5);
    },
  );

  it("an ACH debit from the R10 account clears, then comes back unauthorized", async () => {
    const r10 = BANK.find((r) => ACH_RETURNS[r.last4] === "R10")!;
    const fa = await env.accounts.bank(biz, cus, r10.number);
    const created = (
      await call(
        env.client,
        "createTransaction",
        env.request(
          { biz, cus, debit: fa },
          {
            direction: TransactionDirection.TRANSACTION_DIRECTION_REQUEST,
            method: TransactionMethod.TRANSACTION_METHOD_ACH_DEBIT,
          },
        ),
      )
    ).transaction!;
    await env.advance(PENDING_MS + 2 * DAY);
    const done = await get(created.id);
    expect(history(done).map(([st, rc]) => [st, rc])).toEqual([
      [S.TRANSACTION_STATUS_NEW, ""],
      [S.TRANSACTION_STATUS_PENDING, ""],
      [S.TRANSACTION_STATUS_PROCESSING, ""],
      [S.TRANSACTION_STATUS_CLEARED, ""],
      [S.TRANSACTION_STATUS_RETURNED, "R10"],
    ]);
    expect(done.failureReason).toBe("customer advises not authorized");
  });

  it.each(CARDS.map((r) => [r.number, r.last4] as const))(
    "push to card %s ends at submission: DECLINED or ERROR with its reason",
    async (number, last4) => {
      const declined = CARD_DECLINES[last4];
      const reason = declined ?? CARD_ERRORS[last4]!;
      const end = declined ? S.TRANSACTION_STATUS_DECLINED : S.TRANSACTION_STATUS_ERROR;
      const fa = await env.accounts.card(biz, cus, number);
      const created = (await call(env.client, "createTransaction", env.request({ biz, cus, debit: fa })))
        .transaction!;
      await env.advance(PENDING_MS - 1);
      expect((await get(created.id)).status).toBe(S.TRANSACTION_STATUS_PENDING);
      await env.advance(1);
      await env.advance(DAY);
      const done = await get(created.id);
      expect(done).toMatchObject({ status: end, failureReason: reason, returnCode: "" });
      expect(history(done)).toEqual([
        [S.TRANSACTION_STATUS_NEW, "", "created", 0],
        [S.TRANSACTION_STATUS_PENDING, "", "accepted", 0],
        [end, "", reason, PENDING_MS],
      ]);
      expect(
        env.heard.filter((e) => e.transactionId === created.id).map((e) => [e.status, e.reason]),
      ).toEqual([
        ["pending", "accepted"],
        [declined ? "declined" : "error", reason],
      ]);
    },
  );

  it("a good debit card settles seconds after submission and stays settled", async () => {
    const fa = await env.accounts.card(biz, cus, "4000056655665556");
    const created = (await call(env.client, "createTransaction", env.request({ biz, cus, debit: fa })))
      .transaction!;
    await env.advance(PENDING_MS);
    await env.advance(5_000);
    await env.advance(30 * DAY);
    expect(history(await get(created.id)).map(([st, , , at]) => [st, at])).toEqual([
      [S.TRANSACTION_STATUS_NEW, 0],
      [S.TRANSACTION_STATUS_PENDING, 0],
      [S.TRANSACTION_STATUS_PROCESSING, PENDING_MS],
      [S.TRANSACTION_STATUS_SETTLED, PENDING_MS + 5_000],
    ]);
  });
});
