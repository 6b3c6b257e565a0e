import { describe, expect, it } from "vitest";
import { httpRoute, parseMetrics, Registry, renderMetrics } from "./metrics.ts";

describe("Registry", () => {
  it("one series per label set, whatever order its labels come in", () => {
    const c = new Registry().counter("calls_total", "Calls");
    c.inc({ method: "a", code: "OK", zone: "z" });
    c.inc({ zone: "z", code: "OK", method: "a" });
    c.inc({ code: "OK", zone: "z", method: "a" });
    c.inc({ method: "a", code: "NOT_FOUND", zone: "z" });
    expect(c.get({ zone: "z", method: "a", code: "OK" })).toBe(3);
    expect(c.get({ code: "NOT_FOUND", method: "a", zone: "z" })).toBe(1);
  });

  it("renders counters, gauges and cumulative histogram buckets that parse back to the same values", () => {
    const r = new Registry({ node: "node_1" });
    r.counter("jobs_total", "Jobs").inc({ outcome: "ok" }, 2);
    r.counter("jobs_total", "Jobs").inc({ outcome: "error" });
    r.gauge("queue_depth", "Depth").set(7);
    const h = r.histogram("latency_seconds", "Latency", [0.1, 1]);
    h.observe(0.05);
    h.observe(0.5);
    h.observe(3);
    const text = r.render();
    expect(text).toContain("# TYPE jobs_total counter\n");
    expect(text).toContain("# TYPE latency_seconds histogram\n");
    const samples = parseMetrics(text);
    const at = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value;
    expect(at("jobs_total", { node: "node_1", outcome: "ok" })).toBe(2);
    expect(at("jobs_total", { outcome: "error" })).toBe(1);
    expect(at("queue_depth", { node: "node_1" })).toBe(7);
    // Buckets count every observation at or below their bound.
    expect(at("latency_seconds_bucket", { le: "0.1" })).toBe(1);
    expect(at("latency_seconds_bucket", { le: "1" })).toBe(2);
    expect(at("latency_seconds_bucket", { le: "+Inf" })).toBe(3);
    expect(at("latency_seconds_count", {})).toBe(3);
    expect(at("latency_seconds_sum", {})).toBeCloseTo(3.55);
    expect(samples.every((s) => s.labels.node === "node_1")).toBe(true);
  });

  it("escapes label values and reads them back unchanged", () => {
    const r = new Registry();
    const tricky = 'a "quoted" back\\slash\nnewline';
    r.counter("odd_total", "Odd").inc({ v: tricky });
    expect(parseMetrics(r.render())[0]?.labels.v).toBe(tricky);
  });

  it("refuses a counter going down, a bad name, and one name as two types", () => {
    const r = new Registry();
    expect(() => r.counter("c_total", "C").inc({}, -1)).toThrow(/only goes up/);
    expect(() => r.gauge("bad-name", "Bad")).toThrow(/invalid metric name/);
    r.counter("same", "Same");
    expect(() => r.gauge("same", "Same")).toThrow(/already a counter/);
  });

  it("sets gauges at scrape time from collectors; a failing collector does not take the scrape down", () => {
    const r = new Registry();
    let live = 1;
    r.onCollect(() => r.gauge("live", "Live").set(live));
    r.onCollect(() => {
      throw new Error("broken source");
    });
    expect(parseMetrics(r.render())).toEqual([{ name: "live", labels: {}, value: 1 }]);
    live = 4;
    expect(parseMetrics(renderMetrics([r], { extra: { help: "Extra", value: 2 } }))).toEqual([
      { name: "live", labels: {}, value: 4 },
      { name: "extra", labels: {}, value: 2 },
    ]);
  });
});

describe("httpRoute", () => {
  it("never puts a link token or an id in a label", () => {
    expect(httpRoute("/l/AbC-123_secretTokenValue")).toBe("/l/:token");
    expect(httpRoute("/console/wf_06h03t9vs1583y3bppgj1s2a94")).toBe("/console/:id");
    expect(httpRoute("/metrics")).toBe("/metrics");
  });
});
