import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, logSink } from "../../core/index.ts";
import { type Cluster, completeOnboarding, startCluster, waitForCompletedWebhook } from "./cluster.ts";

// The nodes run in their own processes at debug level; everything they print (stdout and
// stderr) is what an SRE's log pipeline would store.
let c: Cluster;
const phone = "+14155550177";
// 7 digits: too short for the free-text digit scrubber, so only redaction by field keeps it out.
const accountNumber = "7305196";
const email = "ada.l@example.com";
let workflowId = "";
let token = "";
let output = "";

beforeAll(async () => {
  c = await startCluster({ captureOutput: true, env: { LINKFLOW_LOG_LEVEL: "debug" } });
  // The first SMS attempt fails, with the number in the provider's error, so failure paths log too.
  c.twilio.failNext(503, 20503, `Service unavailable while sending to ${phone}`);
  const w = await c.createWorkflow({
    via: 0,
    template: "onboard_and_pay",
    phone,
    inputs: { amount: "12.00 USD" },
    key: "logs-1",
  });
  workflowId = w.id;
  token = w.link.split("/l/")[1]!;
  await completeOnboarding(c, {
    link: w.link,
    phone,
    email,
    bank: { routing_number: "011000015", account_number: accountNumber },
    baseUrl: `http://${c.nodes[1]!.info.httpAddress}`,
  });
  await waitForCompletedWebhook(c, workflowId);
  // Stopping drains both nodes, so their last lines are in too.
  await c.stop();
  output = c.nodes.map((n) => n.output()).join("\n");
}, 180_000);

afterAll(async () => {
  await c?.stop();
});

describe("node logs after a whole onboarding with a bank account", () => {
  it("are JSON lines with trace and span ids, covering the workflow, its bank account and its failed SMS attempt", () => {
    // Every line but the harness's READY handshake.
    const lines = output.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("READY "));
    const parsed = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${l.slice(0, 200)}`);
      }
    });
    // A real sample, not an empty capture: the workflow's own lines, from the services it used.
    const ours = parsed.filter((l) => JSON.stringify(l).includes(workflowId));
    expect(ours.length).toBeGreaterThanOrEqual(3);
    // The bank account step was logged, showing only the last four digits.
    const added = parsed.find((l) => l.msg === "financial account added");
    expect(added).toMatchObject({ kind: "bank_account", last4: accountNumber.slice(-4) });
    expect(parsed.some((l) => l.msg === "effect failed, will retry" && l.actor === workflowId)).toBe(true);
    const sent = parsed.find((l) => l.msg === "sms sent" && l.workflow_id === workflowId);
    expect(sent?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(sent?.span_id).toMatch(/^[0-9a-f]{16}$/);
    // The id is the trace the SMS span was exported under.
    expect(c.otlp.spans.some((s) => s.traceId === sent?.trace_id && s.name === "sms.send twilio")).toBe(true);
  });

  it("never hold the phone number, the account number, the customer's email, the API key or the link token", () => {
    expect(token.length).toBeGreaterThan(20);
    const secrets: Record<string, string> = {
      "phone (E.164)": phone,
      "phone (digits)": phone.slice(1),
      "phone (national)": phone.slice(2),
      "phone (dashed)": "415-555-0177",
      "phone (written)": "(415) 555-0177",
      "phone (dotted)": "415.555.0177",
      "account number": accountNumber,
      email,
      "API key": c.business.apiKey,
      "link token": token,
    };
    for (const [what, secret] of Object.entries(secrets)) {
      const at = output.indexOf(secret);
      expect(at, `${what} in: ${output.slice(Math.max(0, at - 200), at + 50)}`).toBe(-1);
    }
  });

  it("are redacted by field name, and in free text by shape (numbers, emails, keys, links)", () => {
    const lines: string[] = [];
    const write = logSink.write;
    logSink.write = (l) => lines.push(l);
    const link = `http://127.0.0.1/l/${token}`;
    try {
      createLogger().info(`texted ${phone} ((415) 555-0177, 415.555.0177) the link ${link}`, {
        account_number: accountNumber,
        bank_account: { accountNumber, routing_number: "011000015" },
        to: phone,
        authorization: `Bearer ${c.business.apiKey}`,
        err: new Error(`key ${c.business.apiKey} refused for ${email} at ${phone.slice(1)}`),
        note: `short numbers in text stay: ${accountNumber}`,
      });
    } finally {
      logSink.write = write;
    }
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line.account_number).toBe("[redacted]");
    expect(line.bank_account).toEqual({ accountNumber: "[redacted]", routing_number: "[redacted]" });
    expect(line.to).toBe("[redacted]");
    expect(line.authorization).toBe("[redacted]");
    for (const secret of [phone, phone.slice(1), "555-0177", "555.0177", token, c.business.apiKey, email]) {
      expect(lines[0]).not.toContain(secret);
    }
    // Free text is only scrubbed by shape, which a 7-digit number does not have: the flow above
    // stays clean because nothing logs the number, not because the scrubber happened to catch it.
    expect(line.note).toContain(accountNumber);
  });
});
