import type { Sql } from "../core/index.ts";

export interface LeaseRow {
  shard: number;
  owner: string | null;
  epoch: number;
  expiresAt: Date;
}

/** Shard ownership as leases in Postgres; the epoch is the fencing token of every journal write. */
export class LeaseTable {
  constructor(
    private readonly sql: Sql,
    private readonly schema = "runtime",
  ) {}

  async ensure(shardCount: number): Promise<void> {
    await this.sql.unsafe(
      `insert into ${this.schema}.shard_leases (shard) select generate_series(0, $1::int - 1) on conflict do nothing`,
      [shardCount],
    );
  }

  /** Takes the shards that are free or expired; returns the ones taken with their new epochs. */
  async acquire(nodeId: string, shards: number[], ttlMs: number): Promise<Map<number, number>> {
    if (shards.length === 0) return new Map();
    const rows = await this.sql.unsafe<{ shard: number; epoch: bigint }[]>(
      `with up as (
         update ${this.schema}.shard_leases
            set owner = $1, epoch = epoch + 1, expires_at = now() + ($3::int * interval '1 millisecond')
          where shard = any($2::int[]) and (owner is null or expires_at < now())
          returning shard, epoch, owner
       ),
       h as (insert into ${this.schema}.lease_history (shard, epoch, owner) select shard, epoch, owner from up)
       select shard, epoch from up`,
      [nodeId, shards, ttlMs],
    );
    return new Map(rows.map((r) => [r.shard, Number(r.epoch)]));
  }

  /** Extends the leases still held at the same epoch; returns the shards renewed. */
  async renew(nodeId: string, held: Map<number, number>, ttlMs: number): Promise<Set<number>> {
    if (held.size === 0) return new Set();
    const rows = await this.sql.unsafe<{ shard: number }[]>(
      `update ${this.schema}.shard_leases l
          set expires_at = now() + ($2::int * interval '1 millisecond')
         from jsonb_to_recordset($3::text::jsonb) as x(shard int, epoch bigint)
        where l.shard = x.shard and l.epoch = x.epoch and l.owner = $1 and l.expires_at > now()
        returning l.shard`,
      [nodeId, ttlMs, JSON.stringify([...held].map(([shard, epoch]) => ({ shard, epoch })))],
    );
    return new Set(rows.map((r) => r.shard));
  }

  async release(nodeId: string, shards: number[]): Promise<void> {
    if (shards.length === 0) return;
    await this.sql.unsafe(
      `update ${this.schema}.shard_leases set owner = null, expires_at = 'epoch' where owner = $1 and shard = any($2::int[])`,
      [nodeId, shards],
    );
  }

  /** Every lease ever granted, oldest first: who held which epoch of which shard, since when. */
  async history(): Promise<{ shard: number; epoch: number; owner: string; acquiredAt: Date }[]> {
    const rows = await this.sql.unsafe<{ shard: number; epoch: bigint; owner: string; acquired_at: Date }[]>(
      `select shard, epoch, owner, acquired_at from ${this.schema}.lease_history order by acquired_at, shard`,
    );
    return rows.map((r) => ({
      shard: r.shard,
      epoch: Number(r.epoch),
      owner: r.owner,
      acquiredAt: r.acquired_at,
    }));
  }

  async list(): Promise<LeaseRow[]> {
    const rows = await this.sql.unsafe<
      { shard: number; owner: string | null; epoch: bigint; expires_at: Date }[]
    >(`select shard, owner, epoch, expires_at from ${this.schema}.shard_leases order by shard`);
    return rows.map((r) => ({
      shard: r.shard,
      owner: r.owner,
      epoch: Number(r.epoch),
      expiresAt: r.expires_at,
    }));
  }
}
