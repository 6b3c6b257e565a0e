import { randomUUID } from "node:crypto";
import {
  InterceptingCall as Call,
  type InterceptingCall,
  type Interceptor,
  type Metadata,
  status,
} from "@grpc/grpc-js";
import { context, propagation, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";

type Resource = NonNullable<NonNullable<ConstructorParameters<typeof BasicTracerProvider>[0]>["resource"]>;
type ResourceAttributes = Record<string, string | number | boolean>;

let installed: BasicTracerProvider | undefined;
let contextInstalled = false;
let propagatorInstalled = false;

/**
 * The exporter the standard variables ask for: `OTEL_TRACES_EXPORTER=otlp`
 * (OTLP over HTTP with JSON bodies; endpoint from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, headers from
 * `OTEL_EXPORTER_OTLP_*HEADERS`), or `console`; none when unset or `none`. An
 * OTLP endpoint without an exporter name also means OTLP. A protocol other than
 * `http/json` (`OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`) is refused rather than
 * silently sent as JSON.
 */
export function exporterFromEnv(env: NodeJS.ProcessEnv): SpanExporter | undefined {
  const name = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (name === "console") return new ConsoleSpanExporter();
  if (
    name === "otlp" ||
    (!name && (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT))
  ) {
    const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL)?.trim();
    if (protocol && protocol !== "http/json") {
      throw new Error(`OTLP protocol ${protocol} is not supported; use http/json`);
    }
    const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, "");
    const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (base ? `${base}/v1/traces` : undefined);
    return new OTLPTraceExporter(url ? { url } : {});
  }
  return undefined;
}

/**
 * The attributes of this process's spans: `service.name` (`OTEL_SERVICE_NAME`,
 * default `linkflow`), a `service.instance.id` unique to the process, its
 * `process.pid`, then `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k=v`, percent-encoded
 * values) and `extra`, later ones winning.
 */
export function resourceAttributesFromEnv(
  env: NodeJS.ProcessEnv,
  extra: ResourceAttributes = {},
): ResourceAttributes {
  const fromList: ResourceAttributes = {};
  for (const pair of (env.OTEL_RESOURCE_ATTRIBUTES ?? "").split(",")) {
    const i = pair.indexOf("=");
    if (i <= 0) continue;
    try {
      fromList[decodeURIComponent(pair.slice(0, i).trim())] = decodeURIComponent(pair.slice(i + 1).trim());
    } catch {
      // A malformed entry is dropped, as the specification asks, instead of failing startup.
    }
  }
  const serviceName = env.OTEL_SERVICE_NAME?.trim();
  return {
    "service.name": "linkflow",
    "service.instance.id": randomUUID(),
    "process.pid": process.pid,
    ...fromList,
    ...(serviceName ? { "service.name": serviceName } : {}),
    ...extra,
  };
}

/** A fixed set of resource attributes (all the exporters read of a resource). */
function staticResource(attributes: ResourceAttributes): Resource {
  return {
    attributes,
    merge(other) {
      return staticResource({ ...attributes, ...(other?.attributes as ResourceAttributes | undefined) });
    },
    getRawAttributes: () => Object.entries(attributes),
  };
}

/**
 * Installs tracing once per process: W3C trace context propagation and, when
 * there is an exporter, the AsyncLocalStorage context and a tracer provider
 * exporting to `exporter` (tests
 * pass an InMemorySpanExporter) or to what the `OTEL_*` variables ask for,
 * with the resource of `resourceAttributesFromEnv` plus `resource`. Call
 * `shutdown()` before the process exits: it flushes the spans still batched.
 */
export function setupTracing(
  opts: { exporter?: SpanExporter; batch?: boolean; resource?: ResourceAttributes } = {},
): {
  shutdown(): Promise<void>;
} {
  if (!propagatorInstalled) {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    propagatorInstalled = true;
  }
  const chosen = exporterFromEnv(process.env);
  const exporter = opts.exporter ?? chosen;
  if (!exporter) return { shutdown: async () => {} };
  // The async context is only needed when spans are recorded, and costs every promise of the process
  // (Node 20's AsyncLocalStorage hooks them all): about a tenth of a busy node's CPU. Once on, it stays on.
  if (!contextInstalled) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    contextInstalled = true;
  }
  // Exporters that leave the process batch; in-process ones (tests) see every span at once.
  const batch = opts.batch ?? (opts.exporter === undefined && chosen instanceof OTLPTraceExporter);
  const provider = new BasicTracerProvider({
    resource: staticResource(resourceAttributesFromEnv(process.env, opts.resource)),
    spanProcessors: [batch ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter)],
  });
  trace.disable();
  trace.setGlobalTracerProvider(provider);
  installed = provider;
  return {
    shutdown: async () => {
      await provider.shutdown();
      if (installed === provider) {
        trace.disable();
        installed = undefined;
      }
    },
  };
}

/** The current trace context as a `traceparent` header value, if there is one. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

const tracer = () => trace.getTracer("linkflow");

/** Runs `fn` in a new span (child of the active context), recording failures. */
export async function inSpan<T>(
  name: string,
  attributes: Record<string, string | number | boolean>,
  fn: (span: Span) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Runs a gRPC server handler in a SERVER span whose parent comes from the call's `traceparent` metadata. */
export function inServerSpan<T>(method: string, metadata: Metadata, fn: () => Promise<T>): Promise<T> {
  const tp = metadata.get("traceparent")[0];
  const parent =
    typeof tp === "string" ? propagation.extract(context.active(), { traceparent: tp }) : context.active();
  return context.with(parent, () =>
    inSpan(`grpc.server ${method}`, { "rpc.method": method }, fn, SpanKind.SERVER),
  );
}

/** grpc-js client interceptor: a CLIENT span per call and `traceparent` in the metadata. */
export const tracingInterceptor: Interceptor = (options, nextCall): InterceptingCall => {
  const method = options.method_definition.path;
  const span = tracer().startSpan(`grpc.client ${method}`, {
    kind: SpanKind.CLIENT,
    attributes: { "rpc.method": method },
  });
  const ctx = trace.setSpan(context.active(), span);
  return new Call(nextCall(options), {
    start(metadata, _listener, next) {
      const carrier: Record<string, string> = {};
      propagation.inject(ctx, carrier);
      if (carrier.traceparent) metadata.set("traceparent", carrier.traceparent);
      next(metadata, {
        onReceiveMetadata: (md, nextMd) => nextMd(md),
        onReceiveMessage: (msg, nextMsg) => nextMsg(msg),
        onReceiveStatus(s, nextStatus) {
          span.setAttribute("rpc.grpc.status_code", s.code);
          if (s.code !== status.OK) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
          nextStatus(s);
        },
      });
    },
  });
};
