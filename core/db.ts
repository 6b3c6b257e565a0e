import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import postgres from "postgres";

/** A postgres.js client. */
export type Sql = postgres.Sql;

/** Opens a pool. Notices are silenced: they are not errors and would clutter logs. */
export function connect(url: string, opts: { max?: number } = {}): Sql {
  return traced(
    postgres(url, {
      max: opts.max ?? 10,
      onnotice: () => {},
      idle_timeout: 30,
      connect_timeout: 10,
      types: { bigint: postgres.BigInt },
    }),
  );
}

/** The statement of a tagged query, with placeholders only: parameters (and the PII in them) never reach a span. */
function statementOf(strings: readonly string[]): string {
  // A tagged template's strings array is one object per call site, so each site's text is built once.
  let statement = statements.get(strings);
  if (statement === undefined) {
    statement = oneLine(strings.reduce((acc, part, i) => (i === 0 ? part : `${acc}$${i}${part}`), ""));
    statements.set(strings, statement);
  }
  return statement;
}
const statements = new WeakMap<readonly string[], string>();

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim().slice(0, 500);
}

/**
 * Starts a CLIENT span when the query is awaited (postgres.js runs queries
 * lazily) and ends it with the result. The statement's text is read only for
 * a span that records: with tracing off, a query costs no string work.
 */
function spanOnThen<T extends PromiseLike<unknown>>(query: T, statement: () => string): T {
  const then = query.then.bind(query);
  // biome-ignore lint/suspicious/noThenProperty: postgres.js queries run lazily when awaited, so the span starts there.
  (query as { then: PromiseLike<unknown>["then"] }).then = (onFulfilled, onRejected) => {
    const span = trace.getTracer("linkflow.postgres").startSpan("pg.query", {
      kind: SpanKind.CLIENT,
      attributes: { "db.system": "postgresql" },
    });
    if (span.isRecording()) span.setAttribute("db.statement", statement());
    return then(
      (v) => {
        span.end();
        return onFulfilled ? onFulfilled(v) : v;
      },
      (e) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error)?.name });
        span.end();
        if (onRejected) return onRejected(e);
        throw e;
      },
    ) as never;
  };
  return query;
}

/** Wraps a pool so every statement run through it (tagged or `unsafe`) gets a span. */
function traced(sql: Sql): Sql {
  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const result = Reflect.apply(target, thisArg, args);
      const first = args[0] as { raw?: unknown } | undefined;
      const isTemplate = Array.isArray(first) && first !== null && "raw" in (first as object);
      return isTemplate && result && typeof (result as PromiseLike<unknown>).then === "function"
        ? spanOnThen(result as PromiseLike<unknown>, () => statementOf(first as unknown as string[]))
        : result;
    },
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === "unsafe" && typeof value === "function") {
        return (text: string, ...rest: unknown[]) =>
          spanOnThen((value as (...a: unknown[]) => PromiseLike<unknown>).call(target, text, ...rest), () =>
            oneLine(text),
          );
      }
      return value;
    },
  });
}

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/**
 * Applies the not-yet-applied migrations of one schema, each in its own
 * transaction, under an advisory lock so concurrent nodes do not race.
 */
export async function migrate(sql: Sql, schema: string, migrations: Migration[]): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(${`linkflow.migrate.${schema}`}))`;
    await tx.unsafe(`create schema if not exists ${schema}`);
    await tx.unsafe(
      `create table if not exists ${schema}.schema_migrations (id int primary key, name text not null, applied_at timestamptz not null default now())`,
    );
    const rows = await tx.unsafe<{ id: number }[]>(`select id from ${schema}.schema_migrations`);
    const applied = new Set(rows.map((r) => r.id));
    for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
      if (applied.has(m.id)) continue;
      await tx.unsafe(`set local search_path to ${schema}`);
      await tx.unsafe(m.sql);
      await tx.unsafe(`insert into ${schema}.schema_migrations (id, name) values ($1, $2)`, [m.id, m.name]);
    }
  });
}
