import { connect, StringCodec } from "nats";
import { afterAll, describe, expect, it } from "vitest";
import { startNats } from "./index.ts";

const sc = StringCodec();

describe("nats-server harness", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("single node has JetStream enabled", async () => {
    const nats = await startNats();
    cleanups.push(nats.stop);
    expect(nats.urls).toHaveLength(1);
    const nc = await connect({ servers: nats.urls[0] });
    cleanups.push(() => nc.close());
    const jsm = await nc.jetstreamManager();
    const info = await jsm.getAccountInfo();
    expect(info.limits).toBeDefined();
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    const js = nc.jetstream();
    const ack = await js.publish("orders.1", sc.encode("hello"));
    expect(ack.seq).toBe(1);
  });

  it("request/reply crosses a 3-node cluster and survives SIGKILL of a node", async () => {
    const nats = await startNats({ nodes: 3 });
    cleanups.push(nats.stop);
    expect(nats.nodes).toHaveLength(3);
    const [n1, n2, n3] = nats.nodes;
    if (!n1 || !n2 || !n3) throw new Error("expected 3 nodes");
    const responder = await connect({ servers: n3.url, noRandomize: true });
    const client = await connect({ servers: n1.url, noRandomize: true });
    cleanups.push(
      () => responder.close(),
      () => client.close(),
    );
    responder.subscribe("echo", {
      callback: (_err, msg) => {
        msg.respond(sc.encode(`echo:${sc.decode(msg.data)}`));
      },
    });
    await responder.flush();
    // Subscription interest propagates over routes asynchronously.
    let reply = "";
    for (let i = 0; i < 50 && !reply; i++) {
      try {
        const m = await client.request("echo", sc.encode("hi"), { timeout: 500 });
        reply = sc.decode(m.data);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(reply).toBe("echo:hi");
    expect(client.info?.server_name).toBe("n1");
    expect(responder.info?.server_name).toBe("n3");

    // JetStream is clustered too.
    const jsm = await client.jetstreamManager();
    await jsm.getAccountInfo();

    // SIGKILL node 2: clients on 1 and 3 keep working.
    await n2.kill("SIGKILL");
    expect(() => process.kill(n2.pid, 0)).toThrow();
    const m = await client.request("echo", sc.encode("after"), { timeout: 5_000 });
    expect(sc.decode(m.data)).toBe("echo:after");
  });
});
