import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

/** An HTTP pass-through that can hold requests: a provider that has stopped answering for a while. */
export interface Gate {
  /** Base URL to give the client instead of the target's. */
  url: string;
  /** Requests waiting at the gate now. */
  readonly waiting: number;
  /** From now on, requests wait until `release()`. */
  hold(): void;
  /** Lets every waiting (and later) request through. */
  release(): void;
  stop(): Promise<void>;
}

/** Starts a gate on 127.0.0.1 forwarding every request to `target` (a base URL). */
export async function startGate(target: string): Promise<Gate> {
  let held = false;
  const queue: Array<() => void> = [];
  const forward = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string" && !["host", "connection", "content-length"].includes(k)) headers[k] = v;
    }
    const up = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
    res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "application/json" });
    res.end(Buffer.from(await up.arrayBuffer()));
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const go = () => void forward(req, res, Buffer.concat(chunks)).catch(() => res.writeHead(502).end());
      if (held) queue.push(go);
      else go();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get waiting() {
      return queue.length;
    },
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const go of queue.splice(0)) go();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        held = false;
        queue.splice(0);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
