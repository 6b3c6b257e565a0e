import { createServer, type Socket, connect as tcpConnect } from "node:net";

/** A TCP pass-through whose open connections can be cut, like a network blip between a client and its server. */
export interface TcpCut {
  /** `host:port` to give the client instead of the target's. */
  address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Drops every open connection (both sides); new ones are still let through. */
  cut(): void;
  stop(): Promise<void>;
}

/** Starts a pass-through on 127.0.0.1 to `target` (`host:port`). */
export async function startTcpCut(target: string): Promise<TcpCut> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    Number(target.slice(target.lastIndexOf(":") + 1)),
  ];
  const open = new Set<Socket>();
  let accepted = 0;
  const track = (s: Socket) => {
    open.add(s);
    s.once("close", () => open.delete(s));
    s.on("error", () => s.destroy());
  };
  const server = createServer((client) => {
    accepted++;
    const upstream = tcpConnect(port, host);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: own } = server.address() as { port: number };
  const cut = () => {
    for (const s of open) s.destroy();
  };
  return {
    address: `127.0.0.1:${own}`,
    get accepted() {
      return accepted;
    },
    cut,
    stop: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}
