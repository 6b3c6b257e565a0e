import type { IncomingMessage, ServerResponse } from "node:http";
import { status as grpcStatus, ServerInterceptingCall, type ServerInterceptor } from "@grpc/grpc-js";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";

/**
 * A small Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format 0.0.4. No dependency. The process
 * has one default registry (gRPC, notifications); each runtime node keeps its
 * own so that several nodes in one process (tests) report apart.
 */

export type Labels = Record<string, string | number>;

interface Series<V> {
  labels: Labels;
  value: V;
}

abstract class Metric<V> {
  abstract readonly type: "counter" | "gauge" | "histogram";
  protected series = new Map<string, Series<V>>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`invalid metric name ${name}`);
  }

  protected at(labels: Labels, init: () => V): Series<V> {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { ...labels }, value: init() };
      this.series.set(key, s);
    }
    return s;
  }

  abstract render(): string[];

  reset(): void {
    this.series.clear();
  }
}

export class Counter extends Metric<number> {
  readonly type = "counter" as const;

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error("a counter only goes up");
    this.at(labels, () => 0).value += by;
  }

  get(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.value ?? 0;
  }

  render(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${fmtLabels(s.labels)} ${fmtNum(s.value)}`);
  }
}

export class Gauge extends Metric<number> {
  readonly type = "gauge" as const;

  set(labels: Labels, value: number): void;
  set(value: number): void;
  set(a: Labels | number, b?: number): void {
    const [labels, value] = typeof a === "number" ? [{}, a] : [a, b ?? 0];
    this.at(labels, () => 0).value = value;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.at(labels, () => 0).value += by;
  }

  get(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.value ?? 0;
  }

  render(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${fmtLabels(s.labels)} ${fmtNum(s.value)}`);
  }
}

interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

/** Latency buckets in seconds, from 1 ms to 10 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram extends Metric<HistogramValue> {
  readonly type = "histogram" as const;

  constructor(
    name: string,
    help: string,
    readonly buckets: number[] = LATENCY_BUCKETS,
  ) {
    super(name, help);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels, value: number): void;
  observe(value: number): void;
  observe(a: Labels | number, b?: number): void {
    const [labels, value] = typeof a === "number" ? [{}, a] : [a, b ?? 0];
    const s = this.at(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 })).value;
    s.sum += value;
    s.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] ?? 0) + 1;
    }
  }

  /** Starts a timer; calling the result observes the seconds elapsed. */
  startTimer(labels: Labels = {}): (more?: Labels) => number {
    const t0 = process.hrtime.bigint();
    return (more = {}) => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      this.observe({ ...labels, ...more }, s);
      return s;
    };
  }

  get(labels: Labels = {}): { count: number; sum: number } {
    const s = this.series.get(labelKey(labels))?.value;
    return { count: s?.count ?? 0, sum: s?.sum ?? 0 };
  }

  render(): string[] {
    const out: string[] = [];
    for (const { labels, value } of this.series.values()) {
      this.buckets.forEach((le, i) => {
        out.push(`${this.name}_bucket${fmtLabels({ ...labels, le: fmtNum(le) })} ${value.counts[i] ?? 0}`);
      });
      out.push(`${this.name}_bucket${fmtLabels({ ...labels, le: "+Inf" })} ${value.count}`);
      out.push(`${this.name}_sum${fmtLabels(labels)} ${fmtNum(value.sum)}`);
      out.push(`${this.name}_count${fmtLabels(labels)} ${value.count}`);
    }
    return out;
  }
}

export class Registry {
  #metrics = new Map<string, Metric<unknown>>();
  #collectors = new Set<() => void>();

  constructor(
    /** Labels added to every series of this registry (e.g. `{ node: "node_1" }`). */
    readonly constLabels: Labels = {},
  ) {}

  #get<M extends Metric<unknown>>(name: string, type: M["type"], make: () => M): M {
    const existing = this.#metrics.get(name);
    if (existing) {
      // Callers look metrics up on hot paths: compare the type without building a second metric.
      if (existing.type !== type) throw new Error(`metric ${name} is already a ${existing.type}`);
      return existing as M;
    }
    const m = make();
    this.#metrics.set(name, m);
    return m;
  }

  /** The counter of that name (created once; later calls return the same one). */
  counter(name: string, help: string): Counter {
    return this.#get(name, "counter", () => new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.#get(name, "gauge", () => new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.#get(name, "histogram", () => new Histogram(name, help, buckets));
  }

  /** Runs `fn` before every render (to set gauges from live state); returns an unregister function. */
  onCollect(fn: () => void): () => void {
    this.#collectors.add(fn);
    return () => this.#collectors.delete(fn);
  }

  /** The text exposition format (0.0.4) of every metric with at least one series. */
  render(): string {
    for (const c of this.#collectors) {
      try {
        c();
      } catch {
        // A failing collector must not take the whole scrape down.
      }
    }
    const out: string[] = [];
    for (const m of this.#metrics.values()) {
      const lines = m.render();
      if (lines.length === 0) continue;
      out.push(`# HELP ${m.name} ${m.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      out.push(`# TYPE ${m.name} ${m.type}`);
      out.push(
        ...(Object.keys(this.constLabels).length > 0
          ? lines.map((l) => withLabels(l, this.constLabels))
          : lines),
      );
    }
    return out.length > 0 ? `${out.join("\n")}\n` : "";
  }
}

/** The process-wide registry (gRPC servers, notifications, anything not tied to one runtime node). */
export const defaultRegistry = new Registry();

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Renders several registries as one exposition (a metric present in two is
 * written twice; keep names apart), plus optional gauges read at scrape time.
 */
export function renderMetrics(
  registries: Registry | Registry[],
  extraGauges: Record<string, { help: string; value: number; labels?: Labels }> = {},
): string {
  const parts = (Array.isArray(registries) ? registries : [registries]).map((r) => r.render());
  const extra = new Registry();
  for (const [name, g] of Object.entries(extraGauges)) extra.gauge(name, g.help).set(g.labels ?? {}, g.value);
  parts.push(extra.render());
  return parts.join("");
}

/** A node:http handler serving `renderMetrics(registries())` at, e.g., `/metrics`. */
export function metricsHandler(
  registries: () => Registry | Registry[],
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      res.end("method not allowed\n");
      return;
    }
    const body = renderMetrics(registries());
    res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

/** Parses the text format back into samples (for tests and the CLI). */
export function parseMetrics(
  text: string,
): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ""] = (l[2] ?? "").replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    out.push({ name: m[1] ?? "", labels, value: m[3] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[3]) });
  }
  return out;
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  // Insertion sort: label sets are a handful of keys, and Array#sort allocates on every call.
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > k; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = k;
  }
  let key = "";
  for (const k of keys) key += `${k}=${labels[k]}\u0000`;
  return key;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function fmtLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(String(labels[k]))}"`).join(",")}}`;
}

function withLabels(line: string, extra: Labels): string {
  const add = Object.keys(extra)
    .map((k) => `${k}="${escapeLabel(String(extra[k]))}"`)
    .join(",");
  const brace = line.indexOf("{");
  const space = line.indexOf(" ");
  if (brace !== -1 && brace < space) return `${line.slice(0, brace + 1)}${add},${line.slice(brace + 1)}`;
  return `${line.slice(0, space)}{${add}}${line.slice(space)}`;
}

function fmtNum(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}

/**
 * Wraps the node's HTTP handler: a SERVER span per request (parent from an
 * incoming `traceparent`), named by method and a route template that hides
 * link tokens, plus request counts and latency in `registry`.
 */
export function instrumentHttp(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  opts: { registry?: Registry; route?: (path: string) => string } = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const registry = opts.registry ?? defaultRegistry;
  const requests = registry.counter(
    "linkflow_http_requests_total",
    "HTTP requests served, by route and status",
  );
  const latency = registry.histogram(
    "linkflow_http_request_duration_seconds",
    "HTTP request latency by route",
  );
  const routeOf = opts.route ?? httpRoute;
  return (req, res) => {
    const route = routeOf((req.url ?? "/").split("?")[0] ?? "/");
    const method = req.method ?? "GET";
    const tp = req.headers.traceparent;
    const parent =
      typeof tp === "string" ? propagation.extract(context.active(), { traceparent: tp }) : context.active();
    const span = trace
      .getTracer("linkflow")
      .startSpan(
        `http.server ${method} ${route}`,
        { kind: SpanKind.SERVER, attributes: { "http.request.method": method, "http.route": route } },
        parent,
      );
    const stop = latency.startTimer({ route });
    res.once("close", () => {
      span.setAttribute("http.response.status_code", res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      stop();
      requests.inc({ route, method, code: res.statusCode });
    });
    context.with(trace.setSpan(parent, span), () => handler(req, res));
  };
}

/** A low-cardinality route for a path: link tokens and ids become placeholders. */
export function httpRoute(path: string): string {
  if (path.startsWith("/l/")) return "/l/:token";
  if (path.startsWith("/console/"))
    return `/console/${(path.split("/")[2] ?? "").replace(/^[a-z]+_\w+$/, ":id")}`;
  return path.replace(/\/[a-z]+_[A-Za-z0-9]{8,}/g, "/:id");
}

const GRPC_CODES = Object.fromEntries(
  Object.entries(grpcStatus)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v as number, k]),
) as Record<number, string>;

/** Records one gRPC call a server handled: `linkflow_grpc_server_handled_total{method,code}` and its latency. */
export function observeGrpcServer(
  method: string,
  code: number,
  seconds: number,
  registry: Registry = defaultRegistry,
): void {
  registry
    .counter("linkflow_grpc_server_handled_total", "gRPC calls a server completed, by method and status code")
    .inc({ method, code: GRPC_CODES[code] ?? String(code) });
  registry
    .histogram("linkflow_grpc_server_handling_seconds", "gRPC server handling latency by method")
    .observe({ method }, seconds);
}

/** A grpc-js server interceptor recording `observeGrpcServer` for every call (`new Server({ interceptors: [...] })`). */
export function grpcServerMetrics(registry: Registry = defaultRegistry): ServerInterceptor {
  return (method, call) => {
    const t0 = performance.now();
    return new ServerInterceptingCall(call, {
      sendStatus(status, next) {
        observeGrpcServer(method.path, status.code ?? 0, (performance.now() - t0) / 1000, registry);
        next(status);
      },
    });
  };
}

/** One SMS or email handed to its provider: `linkflow_notifications_sent_total{channel,provider}`. */
export function countNotificationSent(
  channel: "sms" | "email",
  provider: string,
  registry: Registry = defaultRegistry,
): void {
  registry
    .counter("linkflow_notifications_sent_total", "SMS and emails handed to their provider, by channel")
    .inc({ channel, provider });
}

/** One webhook delivery attempt: `delivered`, `retrying` (will be tried again) or `failed` (given up). */
export function countWebhookDelivery(
  outcome: "delivered" | "retrying" | "failed",
  registry: Registry = defaultRegistry,
): void {
  registry
    .counter("linkflow_webhook_deliveries_total", "Webhook delivery attempts by outcome")
    .inc({ outcome });
}
