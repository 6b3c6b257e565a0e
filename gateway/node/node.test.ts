import { describe, expect, it } from "vitest";
import { type NodeConfig, startNode } from "./index.ts";

describe("startNode", () => {
  it("refuses a link secret too short to make unguessable links, before touching anything", async () => {
    const cfg = {
      databaseUrl: "postgres://nobody@127.0.0.1:1/none",
      linkSecret: "x".repeat(31),
    } as NodeConfig;
    await expect(startNode(cfg)).rejects.toThrow(/LINKFLOW_LINK_SECRET must be at least 32 characters/);
  });
});
