import { describe, expect, it } from "vitest";
import { compileTemplate, formatTemplate, type StepAction, type WorkflowProgram } from "./index.ts";

const HEAD = 'template t "T" version 1\n';
function ok(src: string): WorkflowProgram {
  const r = compileTemplate(HEAD + src);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.program!;
}
const action = (src: string, i = 0): StepAction => ok(src).steps[i]!.action;

describe("constructs", () => {
  it("inputs: types, optional, defaults, enum values, currency", () => {
    const p = ok(
      'input a: money(USD) default 5.00 USD\ninput b: number optional default -2\ninput c: enum(x, y) default y "pick"\ninput d: boolean default true\ninput e: date optional\ninput f: phone\ninput g: email\nstep v "V" { verify identity }',
    );
    expect(p.inputs).toEqual([
      {
        name: "a",
        type: "money",
        optional: false,
        currency: "USD",
        default: { amountMinor: 500, currency: "USD" },
      },
      { name: "b", type: "number", optional: true, default: -2 },
      { name: "c", type: "enum", optional: false, values: ["x", "y"], default: "y", description: "pick" },
      { name: "d", type: "boolean", optional: false, default: true },
      { name: "e", type: "date", optional: true },
      { name: "f", type: "phone", optional: false },
      { name: "g", type: "email", optional: false },
    ]);
  });

  it("link policy: defaults", () => {
    expect(ok('step v "V" { verify identity }').link).toEqual({
      channels: ["sms"],
      expiresInMs: 604_800_000,
      reminders: { beforeExpiryMs: [] },
      verifyWithCode: false,
      singleUse: true,
    });
  });

  it("link policy: everything", () => {
    const p = ok(
      'link { send via both; expires in 36 hours; remind every 12 hours; remind 6 hours, 30 minutes before expiry; remind at most 3 times; verify with code; reusable }\nstep v "V" { verify identity }',
    );
    expect(p.link).toEqual({
      channels: ["sms", "email"],
      expiresInMs: 36 * 3_600_000,
      reminders: { everyMs: 12 * 3_600_000, beforeExpiryMs: [6 * 3_600_000, 30 * 60_000], maxCount: 3 },
      verifyWithCode: true,
      singleUse: false,
    });
  });

  it("collect business profile", () => {
    expect(
      action('step b "B" { collect business { dba_name, contact_email required; tax_id optional } }'),
    ).toEqual({
      kind: "collect_profile",
      profile: "business",
      fields: [
        { name: "dba_name", required: true },
        { name: "contact_email", required: true },
        { name: "tax_id", required: false },
      ],
    });
  });

  it("lookup customer", () => {
    expect(action('step l "L" { lookup customer by phone or email }')).toEqual({
      kind: "lookup_customer",
      by: ["phone", "email"],
    });
  });

  it("financial account: subtypes, manual, waterfall order", () => {
    expect(
      action(
        'step b "B" { collect financial_account { bank_account(savings) or debit_card; via waterfall(finicity, plaid) or manual } }',
      ),
    ).toEqual({
      kind: "collect_financial_account",
      accountKinds: ["bank_account", "debit_card"],
      subtypes: ["savings"],
      manual: true,
      providers: ["finicity", "plaid"],
    });
  });

  it("upload documents with limits and defaults", () => {
    expect(
      action(
        'step u "U" { upload bank_statement, id_card { count 2 to 4; max size 5 MB; types "application/pdf", "image/*" } }',
      ),
    ).toEqual({
      kind: "upload_documents",
      kinds: ["bank_statement", "id_card"],
      minCount: 2,
      maxCount: 4,
      maxSizeBytes: 5 * 1024 * 1024,
      contentTypes: ["application/pdf", "image/*"],
    });
    expect(action('step u "U" { upload statement }')).toMatchObject({
      minCount: 1,
      maxCount: 10,
      maxSizeBytes: 10 * 1024 * 1024,
    });
  });

  it("accept documents, declinable when decline reasons are given", () => {
    const p = ok(
      'step t "T" { accept "tos" version "1" titled "Terms"; accept "privacy"; decline reasons "No", other }',
    );
    expect(p.steps[0]).toEqual({
      id: "t",
      title: "T",
      declinable: true,
      declineReasons: ["No"],
      allowOtherReason: true,
      action: {
        kind: "accept_documents",
        documents: [{ id: "tos", version: "1", title: "Terms" }, { id: "privacy" }],
      },
    });
  });

  it("a document's text comes from `reading`, escapes decoded; formatting keeps it; empty text is an error", () => {
    const src =
      'step t "T" { accept "tos" version "2" titled "Terms" reading "First.\\n\\nSecond \\"quoted\\"." }';
    expect(action(src)).toEqual({
      kind: "accept_documents",
      documents: [{ id: "tos", version: "2", title: "Terms", text: 'First.\n\nSecond "quoted".' }],
    });
    const formatted = formatTemplate(HEAD + src).text!;
    expect(formatted).toContain('reading "First.\\n\\nSecond \\"quoted\\"."');
    expect(compileTemplate(formatted).program?.steps[0]?.action).toEqual(action(src));
    const empty = compileTemplate(`${HEAD}step t "T" { accept "tos" reading "  " }`);
    expect(empty.program).toBeUndefined();
    expect(empty.diagnostics.map((d) => d.code)).toContain("LF4016");
    const braces = compileTemplate(`${HEAD}input n: text\nstep t "T" { accept "tos" reading "Hi {n}" }`);
    expect(braces.diagnostics.map((d) => d.code)).toContain("LF3006");
  });

  it("a step accepts at most 20 documents", () => {
    const accepts = (n: number) => Array.from({ length: n }, (_, i) => `accept "doc-${i}"`).join("\n ");
    expect(action(`step t "T" { ${accepts(20)} }`)).toMatchObject({ kind: "accept_documents" });
    const many = compileTemplate(`${HEAD}step t "T" { ${accepts(21)} }`);
    expect(many.program).toBeUndefined();
    expect(many.diagnostics.filter((d) => d.code === "LF4017").map((d) => d.message)).toEqual([
      "a step accepts at most 20 documents",
    ]);
  });

  it("confirm request by ACH debit with authorization; confirm steps are always declinable", () => {
    const p = ok(
      'input amt: money\nstep b "B" { collect financial_account { bank_account } }\nstep m "M" { accept "ach-auth" }\nstep p "P" when m.accepted { confirm request input.amt * 2 from b }',
    );
    const s = p.steps[2]!;
    expect(s.declinable).toBe(true);
    expect(s.when).toEqual({ k: "ref", path: ["m", "accepted"], type: "boolean" });
    expect(s.action).toMatchObject({
      kind: "confirm_transaction",
      direction: "request",
      account: "b",
      methods: [{ method: "ach_debit" }],
      authorizationDocument: "ach-auth",
      declineReasons: [],
      allowOtherReason: false,
    });
  });

  it("handlers: every event, actions, step completed", () => {
    const p = ok(
      'input amt: money\nstep b "B" { collect financial_account { debit_card } }\nstep p "P" { confirm send input.amt to b }\non step b completed { tag linked }\non step completed { tag "any-step" }\non cancelled { notify business }\non transaction status changed { email customer "{transaction.amount} {transaction.status}" subject "Payment" }',
    );
    expect(p.handlers.map((h) => [h.on, h.step])).toEqual([
      ["step_completed", "b"],
      ["step_completed", undefined],
      ["cancelled", undefined],
      ["transaction_status_changed", undefined],
    ]);
    expect(p.steps[1]!.action).toMatchObject({ methods: [{ method: "push_to_card" }] });
    expect(p.handlers[3]!.actions[0]).toMatchObject({ kind: "email_customer", subject: { k: "interp" } });
  });

  it("comments are ignored by the compiler and kept by the formatter", () => {
    const src = `${HEAD}# leading\nstep v "V" { # after brace\n  verify identity # trailing\n  # before close\n}\n# at end\n`;
    const f = formatTemplate(src).text!;
    for (const c of ["# leading", "# after brace", "# trailing", "# before close", "# at end"])
      expect(f).toContain(c);
    expect(formatTemplate(f).text).toBe(f);
    expect(compileTemplate(f).program).toEqual(compileTemplate(src).program);
  });

  it("the hash is stable and covers the program", () => {
    const a = ok('step v "V" { verify identity }');
    const b = ok('step v "W" { verify identity }');
    expect(a.hash).toBe(ok('step   v "V"   {verify identity}').hash);
    expect(a.hash).not.toBe(b.hash);
  });
});
