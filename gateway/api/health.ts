import type {
  Server,
  ServerUnaryCall,
  ServerWritableStream,
  sendUnaryData,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { status as grpcStatus } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

type Status = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/** A dependency the API cannot answer without; resolves when it is reachable. */
export type HealthProbe = () => Promise<void>;

export interface HealthOptions {
  /** The services reported besides the overall status (""). */
  services: string[];
  /** Checked on every Check and, while someone watches, every `watchIntervalMs`. */
  probes: HealthProbe[];
  /** A probe slower than this counts as down; default 1 s. */
  probeTimeoutMs?: number;
  /** How often open Watch streams re-run the probes; default 2 s. */
  watchIntervalMs?: number;
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<void>((_, reject) => {
      t = setTimeout(() => reject(new Error("probe timed out")), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/**
 * grpc.health.v1 for the public API. Every service shares one status: NOT_SERVING
 * while the node drains (`setServing(false)`) or while a dependency probe
 * (database, rate-limit store) fails, SERVING otherwise. Check runs the probes;
 * Watch sends the status, then every change; `close()` ends the Watch streams
 * so a graceful shutdown is not held up by them.
 */
export class ApiHealthService {
  #serving = true;
  #last: Status = "SERVING";
  readonly #services: Set<string>;
  readonly #watchers = new Set<{
    service: string;
    sent?: Status;
    call: ServerWritableStream<unknown, unknown>;
  }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: HealthOptions) {
    this.#services = new Set(["", ...o.services]);
  }

  /** The status now: NOT_SERVING when draining or when a probe fails. */
  async status(): Promise<Exclude<Status, "SERVICE_UNKNOWN">> {
    if (!this.#serving) {
      this.#last = "NOT_SERVING";
      return "NOT_SERVING";
    }
    const timeout = this.o.probeTimeoutMs ?? 1000;
    const results = await Promise.allSettled(this.o.probes.map((p) => withTimeout(p(), timeout)));
    const s = results.every((r) => r.status === "fulfilled") && this.#serving ? "SERVING" : "NOT_SERVING";
    this.#last = s;
    return s;
  }

  /** Draining (false) or back in service (true); watchers hear of it at once. */
  setServing(serving: boolean): void {
    this.#serving = serving;
    // Draining needs no probe: watchers hear it before anything (close()) can end their streams.
    if (serving) void this.#notify();
    else this.#publish("NOT_SERVING");
  }

  /** Ends every Watch stream (after they were told NOT_SERVING by `setServing(false)`). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watchers) w.call.end();
    this.#watchers.clear();
  }

  async #notify(): Promise<void> {
    if (this.#watchers.size === 0) return;
    this.#publish(await this.status().catch(() => "NOT_SERVING" as const));
  }

  #publish(s: Status): void {
    this.#last = s === "SERVICE_UNKNOWN" ? this.#last : s;
    for (const w of this.#watchers) {
      if (w.sent === s || !this.#services.has(w.service)) continue;
      w.sent = s;
      w.call.write({ status: s });
    }
  }

  addToServer(server: Server): void {
    const impl: UntypedServiceImplementation = {
      check: (call: ServerUnaryCall<{ service: string }, unknown>, cb: sendUnaryData<unknown>) => {
        if (!this.#services.has(call.request.service)) {
          cb({ code: grpcStatus.NOT_FOUND, details: `unknown service ${call.request.service}` });
          return;
        }
        this.status().then(
          (s) => cb(null, { status: s }),
          () => cb(null, { status: "NOT_SERVING" }),
        );
      },
      watch: (call: ServerWritableStream<{ service: string }, unknown>) => {
        const w: { service: string; sent?: Status; call: ServerWritableStream<unknown, unknown> } = {
          service: call.request.service,
          call: call as ServerWritableStream<unknown, unknown>,
        };
        this.#watchers.add(w);
        call.on("cancelled", () => {
          this.#watchers.delete(w);
          if (this.#watchers.size === 0) {
            clearInterval(this.#timer);
            this.#timer = undefined;
          }
        });
        if (!this.#services.has(w.service)) {
          w.sent = "SERVICE_UNKNOWN";
          call.write({ status: "SERVICE_UNKNOWN" });
        } else {
          void this.#notify();
        }
        this.#timer ??= setInterval(() => void this.#notify(), this.o.watchIntervalMs ?? 2000).unref();
      },
      list: (_call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        cb(null, {
          statuses: Object.fromEntries([...this.#services].map((s) => [s, { status: this.#last }])),
        });
      },
    };
    server.addService(healthService, impl);
  }
}
