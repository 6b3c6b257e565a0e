import { createServer } from "node:http";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";

/** One span as an OTLP collector receives it, with its process's resource attributes. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  resource: Record<string, string | number | boolean>;
}

export interface OtlpReceiverHandle {
  /** Base endpoint for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends `/v1/traces`). */
  url: string;
  /** Every span received so far, in arrival order. */
  spans: ReceivedSpan[];
  /** Export requests received (also the malformed ones). */
  requests: number;
  stop(): Promise<void>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
};
type KeyValue = { key: string; value?: AnyValue };
type ExportRequest = {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        attributes?: KeyValue[];
      }[];
    }[];
  }[];
};

function attributes(list: KeyValue[] = []): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value: v = {} } of list) {
    if (v.stringValue !== undefined) out[key] = v.stringValue;
    else if (v.intValue !== undefined) out[key] = Number(v.intValue);
    else if (v.doubleValue !== undefined) out[key] = v.doubleValue;
    else if (v.boolValue !== undefined) out[key] = v.boolValue;
  }
  return out;
}

/**
 * A loopback OTLP/HTTP trace receiver (`POST /v1/traces`, JSON bodies, gzip
 * or not), standing in for an OpenTelemetry collector: spans are decoded and
 * kept in memory. Other content types get 415, like a collector without that
 * encoding.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiverHandle> {
  const handle = { spans: [] as ReceivedSpan[], requests: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        handle.requests++;
        if (req.method !== "POST" || req.url !== "/v1/traces") {
          return void res.writeHead(404).end();
        }
        if (!String(req.headers["content-type"]).startsWith("application/json")) {
          return void res.writeHead(415).end();
        }
        try {
          let body = Buffer.concat(chunks);
          if (req.headers["content-encoding"] === "gzip") body = await promisify(gunzip)(body);
          const request = JSON.parse(body.toString("utf8")) as ExportRequest;
          for (const rs of request.resourceSpans ?? []) {
            const resource = attributes(rs.resource?.attributes);
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                handle.spans.push({
                  traceId: s.traceId,
                  spanId: s.spanId,
                  parentSpanId: s.parentSpanId ?? "",
                  name: s.name,
                  kind: s.kind ?? 0,
                  attributes: attributes(s.attributes),
                  resource,
                });
              }
            }
          }
          res.writeHead(200, { "content-type": "application/json" }).end("{}");
        } catch {
          res.writeHead(400, { "content-type": "application/json" }).end('{"message":"bad request"}');
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(handle, {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
