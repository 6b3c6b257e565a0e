/** DSL benchmark: parse + check + compile of a generated 1,000-line template. */
import { compileTemplate } from "../../dsl/index.ts";
import type { Emit } from "./run.ts";

/** A realistic template of about `lines` lines: inputs, many steps of every kind, rules and handlers. */
export function generateTemplate(lines: number): string {
  const out = [
    'template bench "Generated template" version 1',
    "",
    "input amount: money(USD)",
    "input memo: text optional",
    "",
  ];
  out.push(
    "link {",
    "  send via sms and email",
    "  expires in 7 days",
    "  remind every 2 days",
    "  remind 1 day before expiry",
    "}",
    "",
  );
  out.push(
    'step profile "Your details" {',
    "  collect individual { first_name, last_name, email required; address optional }",
    "}",
    "",
  );
  out.push(
    'step bank "Your bank" {',
    "  collect financial_account { bank_account or debit_card; via manual or waterfall(plaid, finicity) }",
    "}",
    "",
  );
  let i = 0;
  while (out.length < lines - 12) {
    switch (i % 5) {
      case 0:
        out.push(
          `step terms${i} "Terms ${i}" when input.amount > ${i} USD and profile.first_name != "x" {`,
          `  accept "terms-${i}" version "2024-0${(i % 9) + 1}"`,
          '  decline reasons "No", other',
          "}",
          "",
        );
        break;
      case 1:
        out.push(
          `step docs${i} "Documents ${i}" {`,
          '  upload bank_statement, pay_stub { count 1 to 3; max size 10 MB; types "application/pdf" }',
          "}",
          "",
        );
        break;
      case 2:
        out.push(
          `step id${i} "Identity ${i}" when bank.kind in (bank_account, debit_card) {`,
          "  verify identity using document, selfie",
          "}",
          "",
        );
        break;
      case 3:
        out.push(
          `step pay${i} "Payment ${i}" when (input.amount + 1.00 USD) * 2 >= 10.00 USD or not profile.email == "a@b.co" {`,
          "  confirm send input.amount - 0.50 USD to bank",
          "    method push_to_card when bank.kind == debit_card otherwise ach_credit",
          '  decline reasons "Incorrect amount", "Not expecting this payment", other',
          "}",
          "",
        );
        break;
      default:
        out.push(
          `# a comment about rule ${i}`,
          `rule "limit ${i}": require input.amount <= ${10000 + i}.00 USD else reject "over limit ${i}"`,
          "",
        );
    }
    i++;
  }
  out.push('on transaction status changed { text customer "Your payment is {transaction.status}." }');
  out.push(
    'on completed { notify business; email customer "All done, {profile.first_name}: {input.amount}." }',
  );
  out.push("on declined { notify business }", "on expired { notify business }");
  while (out.length < lines) out.push("# padding");
  return `${out.join("\n")}\n`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export default async function run(emit: Emit): Promise<void> {
  const source = generateTemplate(1000);
  const lines = source.split("\n").length - 1;
  const check = compileTemplate(source);
  if (check.program === undefined) {
    throw new Error(`generated template does not compile: ${check.diagnostics[0]?.message ?? "?"}`);
  }
  for (let i = 0; i < 20; i++) compileTemplate(source); // warm-up (JIT)
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    compileTemplate(source);
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  process.stderr.write(
    `dsl: ${lines} lines, ${check.program.steps.length} steps, median ${ms.toFixed(2)} ms over ${times.length} runs\n`,
  );
  emit({
    bench: "dsl.compile_1000_lines_ms",
    value: Number(ms.toFixed(3)),
    unit: "ms",
    lines,
    runs: times.length,
    target: 50,
  });
  const kb = Buffer.byteLength(source) / 1024;
  emit({
    bench: "dsl.throughput_kb_per_s",
    value: Number((kb / (ms / 1000)).toFixed(1)),
    unit: "KB/s",
    bytes: Buffer.byteLength(source),
  });
}
