import { Server, ServerCredentials } from "@grpc/grpc-js";
import { type GrpcService, ServerHealth } from "./health.ts";

/**
 * Channel options for Linkflow's servers and clients. Channelz (grpc-js's
 * live introspection, which nothing here reads) costs a few percent of a busy
 * node's CPU, so it is off.
 */
export const GRPC_CHANNEL_OPTIONS = { "grpc.enable_channelz": 0 } as const;

export interface ListeningServer {
  server: Server;
  /** grpc.health.v1 of the served services. */
  health: ServerHealth;
  /** `127.0.0.1:<port>` */
  address: string;
  port: number;
  /** Reports NOT_SERVING, then shuts down gracefully, forced after `graceMs`. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a grpc-js server with the given services on `address` (default
 * loopback, random port), with grpc.health.v1 reporting each of them (see
 * ServerHealth). Used by tests and by the single-node composer.
 */
export async function listen(services: GrpcService[], address = "127.0.0.1:0"): Promise<ListeningServer> {
  const server = new Server(GRPC_CHANNEL_OPTIONS);
  for (const s of services) server.addService(s.definition, s.implementation);
  const health = new ServerHealth(services);
  server.addService(health.definition, health.implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const host = address.slice(0, address.lastIndexOf(":"));
  let closing: Promise<void> | undefined;
  return {
    server,
    health,
    port,
    address: `${host}:${port}`,
    close(graceMs = 2000) {
      closing ??= new Promise<void>((resolve) => {
        health.drain();
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}
