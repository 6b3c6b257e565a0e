import type {
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  sendUnaryData,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { HealthImplementation, service as healthDefinition } from "grpc-health-check";

/** Resolves when a dependency the service cannot answer without (its database) is reachable. */
export type HealthProbe = () => Promise<void>;

/** A gRPC service as `listen` serves it; `probe` feeds its grpc.health.v1 status. */
export interface GrpcService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  probe?: HealthProbe;
}

/** A slower probe counts as down: a health check must answer even when the database hangs. */
const PROBE_TIMEOUT_MS = 1_000;

/** The full gRPC name of a service (`linkflow.v1.AccountsService`), from its methods' paths. */
export function serviceName(definition: ServiceDefinition): string {
  const path = Object.values(definition)[0]?.path ?? "";
  return path.slice(1, path.lastIndexOf("/"));
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error("probe timed out")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * grpc.health.v1 for a server of internal services. Each service is reported
 * under its full name, and "" for the server as a whole. Check runs the
 * service's probe (every probe for ""), so a service whose database does not
 * answer is NOT_SERVING; `drain()` reports everything NOT_SERVING for good
 * and ends the Watch streams, so a graceful shutdown is not held up by them.
 */
export class ServerHealth {
  readonly definition = healthDefinition as unknown as ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  readonly #status = new HealthImplementation();
  readonly #probes = new Map<string, HealthProbe[]>();
  readonly #watches = new Set<ServerWritableStream<unknown, unknown>>();
  readonly #last = new Map<string, "SERVING" | "NOT_SERVING">();
  #draining = false;

  constructor(services: GrpcService[]) {
    this.#probes.set("", []);
    for (const s of services) this.#probes.set(serviceName(s.definition), s.probe ? [s.probe] : []);
    for (const name of this.#probes.keys()) this.#set(name, "SERVING");
    let base: UntypedServiceImplementation = {};
    this.#status.addToServer({
      addService: (_def, impl) => {
        base = impl as unknown as UntypedServiceImplementation;
      },
    });
    const baseCheck = base.check as (
      c: ServerUnaryCall<unknown, unknown>,
      cb: sendUnaryData<unknown>,
    ) => void;
    const baseWatch = base.watch as (c: ServerWritableStream<unknown, unknown>) => void;
    this.implementation = {
      ...base,
      check: (call: ServerUnaryCall<{ service: string }, unknown>, cb: sendUnaryData<unknown>) => {
        void this.#refresh(call.request.service).then(() => baseCheck(call, cb));
      },
      watch: (call: ServerWritableStream<{ service: string }, unknown>) => {
        if (this.#draining) {
          call.write({ status: "NOT_SERVING" });
          call.end();
          return;
        }
        this.#watches.add(call);
        call.on("cancelled", () => this.#watches.delete(call));
        baseWatch(call);
      },
    };
  }

  /** Reports every service NOT_SERVING (watchers hear it), then ends the Watch streams. */
  drain(): void {
    this.#draining = true;
    for (const name of this.#probes.keys()) this.#set(name, "NOT_SERVING");
    for (const call of this.#watches) call.end();
    this.#watches.clear();
  }

  async #refresh(name: string): Promise<void> {
    if (!this.#probes.has(name) || this.#draining) return;
    const names = name === "" ? [...this.#probes.keys()].filter((n) => n !== "") : [name];
    const up = await Promise.all(
      names.map(async (n) => {
        const probes = this.#probes.get(n) ?? [];
        const results = await Promise.allSettled(probes.map((p) => withTimeout(p(), PROBE_TIMEOUT_MS)));
        return [n, results.every((r) => r.status === "fulfilled")] as const;
      }),
    );
    if (this.#draining) return;
    for (const [n, ok] of up) this.#set(n, ok ? "SERVING" : "NOT_SERVING");
    if (name === "") this.#set("", up.every(([, ok]) => ok) ? "SERVING" : "NOT_SERVING");
  }

  /** Watchers hear of changes only: the library writes to them on every set. */
  #set(name: string, status: "SERVING" | "NOT_SERVING"): void {
    if (this.#last.get(name) === status) return;
    this.#last.set(name, status);
    this.#status.setStatus(name, status);
  }
}
