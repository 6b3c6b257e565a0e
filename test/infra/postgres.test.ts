import postgres from "postgres";
import { describe, expect, it } from "vitest";
import { createTestDatabase } from "./index.ts";

describe("embedded postgres", () => {
  it("gives each caller an isolated database and drops it", async () => {
    const a = await createTestDatabase();
    const b = await createTestDatabase();
    expect(a.name).toMatch(/^t_[0-9a-f]+$/);
    expect(a.name).not.toBe(b.name);
    const sa = postgres(a.url, { max: 1, onnotice: () => {} });
    const sb = postgres(b.url, { max: 1, onnotice: () => {} });
    try {
      await sa`create table widgets (id int primary key, name text)`;
      await sa`insert into widgets values (1, 'one')`;
      expect(await sa`select name from widgets`).toEqual([{ name: "one" }]);
      const inB = await sb`select to_regclass('public.widgets') as t`;
      expect(inB[0]?.t).toBeNull();
      const [v] = await sa`show server_version_num`;
      expect(Number(v?.server_version_num)).toBeGreaterThanOrEqual(180000);
    } finally {
      await sb.end();
    }
    // drop works even with an open connection (WITH (FORCE))
    await a.drop();
    await sa.end().catch(() => {});
    await b.drop();
    const again = postgres(a.url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
    await expect(again`select 1`).rejects.toThrow(/does not exist/);
    await again.end();
  });
});
