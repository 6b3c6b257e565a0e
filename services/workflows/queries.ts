import { FailedPreconditionError, NotFoundError, type Sql } from "../../core/index.ts";
import type { RuntimeNode } from "../../runtime/index.ts";
import { view } from "./behavior.ts";
import { FINAL_STATUSES, type WorkflowState, type WorkflowStatus, type WorkflowView } from "./model.ts";
import { SHARED_TEMPLATES } from "./templates.ts";

/** A stored template version as listed (source only when asked for). */
export interface TemplateVersionInfo {
  businessId: string;
  name: string;
  version: number;
  title: string;
  hash: string;
  archived: boolean;
  createdAt: Date;
  source?: string;
  usage: { workflowCount: number; lastUsedAt?: Date };
}

interface TemplateRow {
  business_id: string;
  name: string;
  version: number;
  title: string;
  hash: string;
  archived: boolean;
  created_at: Date;
  source?: string;
  workflow_count: string | number | null;
  last_used_at: Date | null;
}

function templateInfo(r: TemplateRow): TemplateVersionInfo {
  return {
    businessId: r.business_id,
    name: r.name,
    version: r.version,
    title: r.title,
    hash: r.hash,
    archived: r.archived,
    createdAt: r.created_at,
    ...(r.source !== undefined ? { source: r.source } : {}),
    usage: {
      workflowCount: Number(r.workflow_count ?? 0),
      ...(r.last_used_at ? { lastUsedAt: r.last_used_at } : {}),
    },
  };
}

/**
 * Read side of the template store for the public API: versions visible to a
 * tenant (its businesses' own, then the shared ones) with usage counted over
 * the tenant's workflows only, and archiving.
 */
export class TemplateQueries {
  constructor(private readonly sql: Sql) {}

  /** Joins `u`: how many of the tenant's workflows run template version `t`, and when the last started. */
  #versionUsage(scope: string[]) {
    return this.sql`
      left join lateral (
        select count(*) as workflow_count, max(w.created_at) as last_used_at
          from workflows.workflows w
         where w.business_id = any(${scope}) and w.template_name = t.name and w.template_version = t.version
      ) u on true`;
  }

  /** Every version of `name` the tenant can use, own before shared, newest first. */
  async versions(scope: string[], name: string): Promise<TemplateVersionInfo[]> {
    const owners = [...scope, SHARED_TEMPLATES];
    const rows = await this.sql<TemplateRow[]>`
      select t.business_id, t.name, t.version, t.title, t.hash, t.archived, t.created_at,
             u.workflow_count, u.last_used_at
        from workflows.templates t
        ${this.#versionUsage(scope)}
       where t.business_id = any(${owners}) and t.name = ${name}
       order by (t.business_id = ${SHARED_TEMPLATES}), t.version desc`;
    // A business's own template of a name hides the shared one of the same name.
    const own = rows.filter((r) => r.business_id !== SHARED_TEMPLATES);
    return (own.length > 0 ? own : rows).map(templateInfo);
  }

  /** One version with its source; version 0 = the latest not archived. */
  async get(scope: string[], name: string, version: number): Promise<TemplateVersionInfo> {
    const owners = [...scope, SHARED_TEMPLATES];
    const rows = await this.sql<TemplateRow[]>`
      select t.business_id, t.name, t.version, t.title, t.hash, t.archived, t.created_at, t.source,
             u.workflow_count, u.last_used_at
        from workflows.templates t
        ${this.#versionUsage(scope)}
       where t.business_id = any(${owners}) and t.name = ${name}
         and (${version}::int = 0 and not t.archived or t.version = ${version})
       order by (t.business_id = ${SHARED_TEMPLATES}), t.version desc
       limit 1`;
    const row = rows[0];
    if (!row) throw new NotFoundError("template", version ? `${name} version ${version}` : name);
    return templateInfo(row);
  }

  /** The latest version of each template name the tenant can use. */
  async latest(scope: string[], includeArchived: boolean): Promise<TemplateVersionInfo[]> {
    const owners = [...scope, SHARED_TEMPLATES];
    const rows = await this.sql<TemplateRow[]>`
      select distinct on (t.name) t.business_id, t.name, t.version, t.title, t.hash, t.archived, t.created_at,
             u.workflow_count, u.last_used_at
        from workflows.templates t
        left join lateral (
          select count(*) as workflow_count, max(w.created_at) as last_used_at
            from workflows.workflows w
           where w.business_id = any(${scope}) and w.template_name = t.name
        ) u on true
       where t.business_id = any(${owners}) and (${includeArchived} or not t.archived)
       order by t.name, (t.business_id = ${SHARED_TEMPLATES}), t.version desc`;
    return rows.map(templateInfo);
  }

  /** Archives one of the business's own versions (idempotent). Shared templates are read-only. */
  async archive(
    businessId: string,
    scope: string[],
    name: string,
    version: number,
  ): Promise<TemplateVersionInfo> {
    const rows = await this.sql<{ business_id: string }[]>`
      update workflows.templates set archived = true
       where business_id = ${businessId} and name = ${name} and version = ${version}
       returning business_id`;
    if (rows.length === 0) {
      const [shared] = await this.sql`
        select 1 from workflows.templates where business_id = ${SHARED_TEMPLATES} and name = ${name} and version = ${version}`;
      if (shared) {
        throw new FailedPreconditionError(
          "template_shared",
          "templates shipped with Linkflow cannot be archived",
        );
      }
      throw new NotFoundError("template", `${name} version ${version}`);
    }
    const info = (await this.versions(scope, name)).find(
      (v) => v.version === version && v.businessId === businessId,
    );
    if (!info) throw new NotFoundError("template", `${name} version ${version}`);
    return info;
  }
}

/** Filters of a workflow listing; every one optional. */
export interface WorkflowFilter {
  statuses?: WorkflowStatus[];
  customerId?: string;
  externalId?: string;
  templateName?: string;
  templateVersion?: number;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Words each found in the name, phone, email, workflow id or external id. */
  query?: string;
}

/** Position after the last row of a page (newest first). */
export interface WorkflowCursor {
  createdAt: string;
  id: string;
}

/** Words a workflow can be found by: the customer's name, phone, email, ids. */
function searchText(s: WorkflowState): string {
  const words: string[] = [s.id, s.externalId ?? "", s.customerId ?? ""];
  if (s.recipient.phone) words.push(s.recipient.phone, s.recipient.phone.replace(/\D/g, ""));
  if (s.recipient.email) words.push(s.recipient.email);
  for (const st of s.steps) {
    for (const [k, v] of Object.entries(st.result ?? {})) {
      if (typeof v === "string" && /(^|_)(name|email|phone)$/.test(k)) words.push(v);
    }
  }
  return words
    .filter((w) => w !== "")
    .join(" ")
    .toLowerCase();
}

function likePattern(word: string): string {
  return `%${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Listing and search over the tenant index. Status, customer and names change
 * inside the actors, so before answering, the projection of every workflow
 * still active in the tenant's scope is refreshed from its actor (a final
 * workflow never changes again). Until the runtime offers an event
 * projection hook this costs one actor query per active workflow.
 */
export class WorkflowQueries {
  constructor(
    private readonly sql: Sql,
    private readonly node: RuntimeNode,
    private readonly opts: { staleMs?: number; maxRefresh?: number; concurrency?: number } = {},
  ) {}

  /** Refreshes one workflow's projection from its actor. */
  async refresh(workflowId: string): Promise<WorkflowView | undefined> {
    const s = await this.node.query<WorkflowState>(workflowId, { full: true });
    if (!s.exists) return undefined;
    await this.project([s]);
    return view(s);
  }

  /** Writes the projection of workflows from their states, in one statement. */
  async project(states: WorkflowState[]): Promise<void> {
    const rows = states
      .filter((s) => s.exists)
      .map((s) => ({
        id: s.id,
        status: s.status,
        final: FINAL_STATUSES.has(s.status),
        customer_id: s.customerId ?? null,
        search: searchText(s),
        view: view(s),
      }));
    if (rows.length === 0) return;
    await this.sql.unsafe(
      `update workflows.workflows w
          set status = x.status, final = x.final, customer_id = x.customer_id, search = x.search,
              view = x.view, refreshed_at = now()
         from jsonb_to_recordset($1::text::jsonb)
           as x(id text, status text, final boolean, customer_id text, search text, view jsonb)
        where w.id = x.id`,
      [JSON.stringify(rows)],
    );
  }

  async #refreshActive(scope: string[]): Promise<void> {
    const staleMs = this.opts.staleMs ?? 0;
    const rows = await this.sql<{ id: string }[]>`
      select id from workflows.workflows
       where business_id = any(${scope}) and not final
         and (refreshed_at is null or refreshed_at < now() - make_interval(secs => ${staleMs / 1000}))
       order by created_at desc
       limit ${this.opts.maxRefresh ?? 2000}`;
    const queue = rows.map((r) => r.id);
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        // A workflow whose creation is still in flight (or failed) is left out until it exists.
        await this.refresh(id).catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency ?? 8 }, worker));
  }

  /** One page of the tenant's workflows, newest first, and the cursor of the next page. */
  async list(
    scope: string[],
    filter: WorkflowFilter,
    pageSize: number,
    after?: WorkflowCursor,
  ): Promise<{ workflows: WorkflowView[]; next?: WorkflowCursor }> {
    await this.#refreshActive(scope);
    const sql = this.sql;
    const conds = [sql`business_id = any(${scope})`, sql`view is not null`];
    if (filter.statuses?.length) conds.push(sql`status = any(${filter.statuses})`);
    if (filter.customerId) conds.push(sql`customer_id = ${filter.customerId}`);
    if (filter.externalId) conds.push(sql`external_id = ${filter.externalId}`);
    if (filter.templateName) conds.push(sql`template_name = ${filter.templateName}`);
    if (filter.templateVersion) conds.push(sql`template_version = ${filter.templateVersion}`);
    if (filter.createdAfter) conds.push(sql`created_at >= ${filter.createdAfter}`);
    if (filter.createdBefore) conds.push(sql`created_at < ${filter.createdBefore}`);
    for (const word of (filter.query ?? "").toLowerCase().split(/\s+/).filter(Boolean)) {
      conds.push(sql`search like ${likePattern(word)}`);
    }
    if (after) conds.push(sql`(created_at, id) < (${after.createdAt}::timestamptz, ${after.id})`);
    const where = conds.reduce((acc, c) => sql`${acc} and ${c}`);
    const rows = await sql<{ id: string; created_text: string; view: WorkflowView }[]>`
      select id, created_at::text as created_text, view from workflows.workflows
       where ${where}
       order by created_at desc, id desc
       limit ${pageSize + 1}`;
    const page = rows.slice(0, pageSize);
    const last = page[page.length - 1];
    return {
      workflows: page.map((r) => r.view),
      ...(rows.length > pageSize && last ? { next: { createdAt: last.created_text, id: last.id } } : {}),
    };
  }
}

/**
 * Keeps the listing projection current from the runtime's committed turns:
 * states are coalesced per workflow and written in one statement every
 * `intervalMs`. Best effort: a projection lost in a crash is refreshed from
 * the actor the next time it is listed.
 */
export class WorkflowProjector {
  #pending = new Map<string, WorkflowState>();
  #timer?: NodeJS.Timeout;
  #flushing?: Promise<void>;

  constructor(
    private readonly queries: WorkflowQueries,
    private readonly intervalMs = 100,
  ) {}

  /** The runtime's `onCommitted` hook. */
  readonly observe = (actorId: string, _events: unknown[], state: unknown): void => {
    if (!actorId.startsWith("wf_")) return;
    this.#pending.set(actorId, state as WorkflowState);
    this.#timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  };

  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    if (batch.length === 0) return;
    this.#flushing = this.queries.project(batch).catch(() => {});
    await this.#flushing;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
