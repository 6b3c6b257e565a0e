import { isIP } from "node:net";
import { type Clock, type Logger, NotFoundError, newId, type Sql } from "../../core/index.ts";
import {
  type AcceptedDocument,
  type AccountsServiceServer,
  type DocumentAcceptance,
  RecordDocumentAcceptanceResponse,
  RecordDocumentAcceptancesResponse,
} from "../../proto/index.ts";
import { idempotentStatement, type ResponseCodec, unary, Violations } from "../grpc/index.ts";
import { requireCustomer } from "./financial.ts";
import { customerIds } from "./validation.ts";

const DOCUMENT_ID = /^[a-z0-9][a-z0-9._-]{0,99}$/i;
const CONTENT_HASH = /^sha256:[0-9a-f]{64}$/;
const SCOPE = /^[a-z][a-z0-9_]{0,63}$/;
/** The most documents one RecordDocumentAcceptances call records. */
const MAX_DOCUMENTS = 20;

interface AcceptanceRow {
  id: string;
  business_id: string;
  customer_id: string;
  document_id: string;
  version: string;
  content_hash: string;
  scope: string;
  accepted_at: Date;
  ip: string;
  user_agent: string;
  workflow_id: string;
  recorded_at: Date;
}

function acceptanceFromRow(r: AcceptanceRow): DocumentAcceptance {
  return {
    id: r.id,
    businessId: r.business_id,
    customerId: r.customer_id,
    documentId: r.document_id,
    version: r.version,
    contentHash: r.content_hash,
    scope: r.scope,
    acceptedAt: r.accepted_at,
    ip: r.ip,
    userAgent: r.user_agent,
    workflowId: r.workflow_id,
    recordedAt: r.recorded_at,
  };
}

/** Where, when and by whom documents were accepted: what every acceptance of one request shares. */
interface AcceptanceSession {
  businessId: string;
  customerId: string;
  acceptedAt?: Date | undefined;
  ip: string;
  userAgent: string;
  workflowId: string;
  idempotencyKey: string;
}

export interface AcceptanceContext {
  sql: Sql;
  clock: Clock;
  log: Logger;
}

/** The document-acceptance RPCs: record one, record several at once, list. */
export function acceptanceHandlers(
  ctx: AcceptanceContext,
): Pick<
  AccountsServiceServer,
  "recordDocumentAcceptance" | "recordDocumentAcceptances" | "listDocumentAcceptances"
> {
  const { sql, clock, log } = ctx;

  function checkDocument(v: Violations, at: string, d: AcceptedDocument): void {
    if (!DOCUMENT_ID.test(d.documentId))
      v.add(`${at}document_id`, "must be 1 to 100 letters, digits, '.', '_' or '-', e.g. terms-of-service");
    v.text(`${at}version`, d.version, { max: 50 });
    if (!CONTENT_HASH.test(d.contentHash))
      v.add(`${at}content_hash`, "must be sha256:<64 lower-case hex digits> of the accepted text");
    if (d.scope && !SCOPE.test(d.scope))
      v.add(`${at}scope`, "must be a lower-case identifier such as ach_debit_authorization");
  }

  function checkSession(v: Violations, s: AcceptanceSession): void {
    if (!s.acceptedAt) v.add("accepted_at", "is required");
    else if (s.acceptedAt.getTime() > clock.now() + 5 * 60_000) v.add("accepted_at", "is in the future");
    if (!isIP(s.ip)) v.add("ip", "must be an IPv4 or IPv6 address");
    v.text("user_agent", s.userAgent, { max: 1000 });
    if (s.workflowId) v.id("workflow_id", s.workflowId, "wf");
    v.idempotencyKey("idempotency_key", s.idempotencyKey);
  }

  /**
   * Records `documents` as accepted in session `s`, all in one statement
   * with the claim of the key: all of them or none.
   */
  function record<T>(
    s: AcceptanceSession,
    documents: AcceptedDocument[],
    call: {
      method: string;
      request: unknown;
      codec: ResponseCodec<T>;
      response: (acceptances: DocumentAcceptance[]) => T;
    },
  ): Promise<T> {
    const recordedAt = new Date(clock.now());
    const acceptances: DocumentAcceptance[] = documents.map((d) => ({
      id: newId("dac", clock.now()),
      businessId: s.businessId,
      customerId: s.customerId,
      documentId: d.documentId,
      version: d.version.trim(),
      contentHash: d.contentHash,
      scope: d.scope,
      acceptedAt: s.acceptedAt!,
      ip: s.ip,
      userAgent: s.userAgent,
      workflowId: s.workflowId,
      recordedAt,
    }));
    const rows = acceptances.map((a) => ({
      id: a.id,
      document_id: a.documentId,
      version: a.version,
      content_hash: a.contentHash,
      scope: a.scope,
    }));
    return idempotentStatement(sql, {
      schema: "accounts",
      businessId: s.businessId,
      key: s.idempotencyKey,
      method: call.method,
      request: call.request,
      codec: call.codec,
      // The customer exists in the business and is not deleted (what requireCustomer checks).
      allowed: sql`exists (select from accounts.customers
        where id = ${s.customerId} and business_id = ${s.businessId} and deleted_at is null)`,
      effects: sql`
        acceptance as (
          insert into accounts.document_acceptances
            (id, business_id, customer_id, document_id, version, content_hash, scope, accepted_at, ip,
             user_agent, workflow_id, recorded_at)
          select d.id, ${s.businessId}, ${s.customerId}, d.document_id, d.version, d.content_hash, d.scope,
                 ${s.acceptedAt!}, ${s.ip}, ${s.userAgent}, ${s.workflowId}, ${recordedAt}
          from claim cross join jsonb_to_recordset(${sql.json(rows)}::jsonb)
            as d(id text, document_id text, version text, content_hash text, scope text)
        )`,
      response: call.response(acceptances),
      refused: () => new NotFoundError("customer", s.customerId),
      onWritten: () => {
        for (const a of acceptances)
          log.info("document acceptance recorded", {
            business_id: s.businessId,
            customer_id: s.customerId,
            acceptance_id: a.id,
            document_id: a.documentId,
            scope: a.scope,
          });
      },
    });
  }

  return {
    recordDocumentAcceptance: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      checkDocument(v, "", req);
      checkSession(v, req);
      v.throwIfAny();
      const { idempotencyKey: _key, ...request } = req;
      return record(req, [req], {
        method: "RecordDocumentAcceptance",
        request,
        codec: RecordDocumentAcceptanceResponse,
        response: ([acceptance]) => ({ acceptance }),
      });
    }),

    recordDocumentAcceptances: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      if (req.documents.length === 0) v.add("documents", "at least one document is required");
      if (req.documents.length > MAX_DOCUMENTS)
        v.add("documents", `at most ${MAX_DOCUMENTS} documents in one request`);
      const seen = new Set<string>();
      for (const [i, d] of req.documents.slice(0, MAX_DOCUMENTS).entries()) {
        checkDocument(v, `documents[${i}].`, d);
        const doc = `${d.documentId}\n${d.version.trim()}`;
        if (seen.has(doc)) v.add(`documents[${i}]`, "repeats a document and version already in this request");
        seen.add(doc);
      }
      checkSession(v, req);
      v.throwIfAny();
      const { idempotencyKey: _key, ...request } = req;
      return record(req, req.documents, {
        method: "RecordDocumentAcceptances",
        request,
        codec: RecordDocumentAcceptancesResponse,
        response: (acceptances) => ({ acceptances }),
      });
    }),

    listDocumentAcceptances: unary(async (req) => {
      const v = new Violations();
      customerIds(v, req.businessId, req.customerId);
      if (req.documentId && !DOCUMENT_ID.test(req.documentId)) v.add("document_id", "is not a document id");
      v.throwIfAny();
      await requireCustomer(sql, req.businessId, req.customerId);
      const rows = await sql<AcceptanceRow[]>`
        select * from accounts.document_acceptances
        where business_id = ${req.businessId} and customer_id = ${req.customerId}
          and (${req.documentId}::text = '' or document_id = ${req.documentId})
        order by id`;
      return { acceptances: rows.map(acceptanceFromRow) };
    }),
  };
}
