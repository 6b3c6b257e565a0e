import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AddFinancialAccountRequest,
  BankAccountType,
  CardType,
  FinancialAccountSource,
  TransactionMethod,
} from "../../proto/index.ts";
import { captureLogs, rawLogger, recordCalls, rejected } from "./helpers.ts";
import { startTransactions, type TransactionsStack } from "./stack.ts";

// Short numbers on purpose: the logger's scrubbing of long digit runs cannot hide them,
// so they only stay out of the output if no code path ever writes them.
const SHORT_R01 = "8279901";
const SHORT_5 = "63150";
const CARD = "4000056655665556";
const BAD_CARD = "4000056655665557";
const SECRETS = [SHORT_R01, SHORT_5, CARD, BAD_CARD];
const DAY = 86_400_000;

const sink = captureLogs();
const raw = rawLogger();
const rec = recordCalls();
let env: TransactionsStack;

beforeAll(async () => {
  env = await startTransactions({ log: raw });
});

afterAll(async () => {
  await env?.close();
  sink.restore();
});

describe("account and card numbers", () => {
  it("appear in no log line, no response and no error, through a whole lifecycle", async () => {
    const { client: accounts } = env.accounts;
    const biz = (
      await rec.call(accounts, "createBusiness", { name: "Acme", parentBusinessId: "", idempotencyKey: "" })
    ).business!.id;
    const cus = (
      await rec.call(accounts, "createCustomer", {
        businessId: biz,
        idempotencyKey: "",
        externalId: "",
        profile: {
          $case: "individual",
          value: {
            firstName: "Ada",
            lastName: "L",
            email: "ada@example.com",
            phone: "+15551234567",
            addresses: [],
          },
        },
      })
    ).customer!.id;
    const bank = (
      accountNumber: string,
      over: Partial<AddFinancialAccountRequest> = {},
    ): AddFinancialAccountRequest => ({
      businessId: biz,
      customerId: cus,
      idempotencyKey: "",
      name: "",
      source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
      providerAccountId: "",
      makeDefault: false,
      details: {
        $case: "bankAccount",
        value: {
          routingNumber: "011000015",
          accountNumber,
          accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
          nameOnAccount: "Ada L",
        },
      },
      ...over,
    });
    const r01 = (
      await rec.call(accounts, "addFinancialAccount", bank(SHORT_R01, { idempotencyKey: "add-short-1" }))
    ).financialAccount!;
    expect(r01.numberMasked).toBe("••••9901");
    // A replay answers from the stored response; a reuse with another number is refused.
    await rec.call(accounts, "addFinancialAccount", bank(SHORT_R01, { idempotencyKey: "add-short-1" }));
    await rejected(
      rec.call(accounts, "addFinancialAccount", bank(SHORT_5, { idempotencyKey: "add-short-1" })),
    );
    const five = (await rec.call(accounts, "addFinancialAccount", bank(SHORT_5))).financialAccount!;
    const card = (
      await rec.call(accounts, "addFinancialAccount", {
        ...bank(""),
        details: {
          $case: "card",
          value: { number: CARD, expiry: "12/29", cardType: CardType.CARD_TYPE_DEBIT },
        },
      })
    ).financialAccount!;

    // Bad input next to a good number: the violations must not echo either.
    await rejected(
      rec.call(accounts, "addFinancialAccount", {
        ...bank(SHORT_R01),
        details: {
          $case: "bankAccount",
          value: {
            routingNumber: SHORT_R01,
            accountNumber: `${SHORT_5}x`,
            accountType: 0,
            nameOnAccount: "",
          },
        },
      }),
    );
    await rejected(
      rec.call(accounts, "addFinancialAccount", {
        ...bank(""),
        details: {
          $case: "card",
          value: { number: BAD_CARD, expiry: "12/29", cardType: CardType.CARD_TYPE_DEBIT },
        },
      }),
    );
    await rejected(rec.call(accounts, "addFinancialAccount", bank(SHORT_R01, { customerId: "cus_missing" })));

    for (const fa of [r01, five, card]) {
      await rec.call(accounts, "getFinancialAccount", { businessId: biz, financialAccountId: fa.id });
      await rec.call(accounts, "checkTransactable", {
        businessId: biz,
        customerId: cus,
        financialAccountId: fa.id,
      });
    }
    await rec.call(accounts, "listFinancialAccounts", { businessId: biz, customerId: cus });

    const s = { biz, cus, debit: card.id };
    const ach = (
      await rec.call(
        env.client,
        "createTransaction",
        env.request(s, {
          financialAccountId: r01.id,
          method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT,
        }),
      )
    ).transaction!;
    await rec.call(
      env.client,
      "createTransaction",
      env.request(s, {
        financialAccountId: five.id,
        method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT,
      }),
    );
    await rec.call(env.client, "createTransaction", env.request(s));
    // The wrong rail for the account: refused, without the number.
    await rejected(
      rec.call(env.client, "createTransaction", env.request(s, { financialAccountId: five.id })),
    );
    await env.advance(30_000);
    await env.advance(2 * DAY);
    const returned = (
      await rec.call(env.client, "getTransaction", { businessId: biz, transactionId: ach.id })
    ).transaction!;
    expect(returned.returnCode).toBe("R01");
    await rec.call(env.client, "listTransactions", { businessId: biz, customerId: cus });
    await rec.call(accounts, "disconnectFinancialData", {
      businessId: biz,
      customerId: cus,
      idempotencyKey: "",
    });
    await rec.call(accounts, "listFinancialAccounts", { businessId: biz, customerId: cus });

    // The capture is live: it holds what the services said, masked.
    expect(rec.text()).toContain("••••9901");
    expect(rec.text()).toContain("bank_account.account_number");
    expect(raw.lines.some((l) => l.includes("financial account added") && l.includes("9901"))).toBe(true);
    expect(raw.lines.some((l) => l.includes("transaction status changed") && l.includes("returned"))).toBe(
      true,
    );

    const stored = JSON.stringify(
      {
        events: await env.sql`select payload from notifications.events`,
        transactions: await env.sql`select * from transactions.transactions`,
        changes: await env.sql`select * from transactions.status_changes`,
        claims: await env.sql`select key, request_hash from transactions.idempotency`,
        accountClaims: await env.sql`select key, request_hash from accounts.idempotency`,
      },
      (_k, v) => (typeof v === "bigint" ? String(v) : v),
    );
    const responses = (
      await env.sql<{ response: Buffer }[]>`
        select response from transactions.idempotency where response is not null
        union all select response from accounts.idempotency where response is not null`
    ).map((r) => r.response);
    expect(responses.length).toBeGreaterThan(3);
    const heard = JSON.stringify(env.heard);
    for (const n of SECRETS) {
      expect(
        raw.lines.filter((l) => l.includes(n)),
        `raw log lines with ${n}`,
      ).toEqual([]);
      expect(
        sink.lines.filter((l) => l.includes(n)),
        `log output with ${n}`,
      ).toEqual([]);
      expect(rec.text().includes(n), `a response or error with ${n}`).toBe(false);
      expect(stored.includes(n), `stored events, transactions or idempotency rows with ${n}`).toBe(false);
      expect(heard.includes(n), `listener events with ${n}`).toBe(false);
      expect(responses.filter((r) => r.includes(n)).length, `stored replay responses with ${n}`).toBe(0);
    }
  });
});
