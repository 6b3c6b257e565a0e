import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";

export interface ListeningServer {
  server: Server;
  /** `127.0.0.1:<port>` */
  address: string;
  port: number;
  /** Graceful shutdown, then forced after `graceMs`. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a grpc-js server with the given services on `address` (default
 * loopback, random port). Used by tests and by the single-node composer.
 */
export async function listen(
  services: { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[],
  address = "127.0.0.1:0",
): Promise<ListeningServer> {
  const server = new Server();
  for (const s of services) server.addService(s.definition, s.implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const host = address.slice(0, address.lastIndexOf(":"));
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    address: `${host}:${port}`,
    close(graceMs = 2000) {
      closing ??= new Promise<void>((resolve) => {
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
