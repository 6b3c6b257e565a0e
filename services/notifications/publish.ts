import { type Clock, FailedPreconditionError, newId, type Sql, UnavailableError } from "../../core/index.ts";
import { PublishEventResponse } from "../../proto/index.ts";
import { requestHash } from "../grpc/index.ts";

/** An event to record, with its validated payload. */
export interface EventToPublish {
  businessId: string;
  type: string;
  workflowId: string;
  payload: unknown;
  /** "" = no deduplication. */
  idempotencyKey: string;
  /** The request without its key, hashed to refuse a key reused for something else. */
  request: unknown;
}

interface Outcome {
  deliveries: number;
  claimed: boolean;
  method: string | null;
  request_hash: string | null;
  response: Uint8Array | null;
}

/**
 * An event's deliveries are named after it (`dlv_<the event id's body>` and a
 * number of at least three digits), so one statement can name them all: they
 * stay unique and sort by time like every other id.
 */
function deliveryIdPrefix(eventId: string): string {
  return `dlv_${eventId.slice(eventId.indexOf("_") + 1)}`;
}

/**
 * Records an event and a delivery for each of the business's subscriptions
 * whose types match, once per idempotency key, in one statement (its own
 * transaction). The key's replay record is written by the same statement,
 * which alone knows how many deliveries it queued, so it is JSON built there
 * (the generic idempotentStatement stores a response known beforehand). A
 * retry, or a concurrent attempt once the first commits, is answered from
 * that record; the same key with a different request is refused.
 */
export async function publishEvent(sql: Sql, clock: Clock, e: EventToPublish): Promise<PublishEventResponse> {
  const at = new Date(clock.now());
  const eventId = newId("evt", clock.now());
  const key = e.idempotencyKey;
  const hash = key ? requestHash("PublishEvent", e.request) : "";
  const [out] = await sql<Outcome[]>`
    with subs as (
      select s.id, row_number() over (order by s.id) as n
      from notifications.webhook_subscriptions s
      where s.business_id = ${e.businessId} and s.deleted_at is null
        -- Its types match: none (every event), "*", the type itself, or its family ("workflow.*").
        and (cardinality(s.event_types) = 0 or exists (
          select 1 from unnest(s.event_types) p
          where p = '*' or p = ${e.type} or (p like '%.*' and starts_with(${e.type}, left(p, -1)))))),
    claim as (
      insert into notifications.idempotency (business_id, key, method, request_hash, response)
      select ${e.businessId}, ${key}, 'PublishEvent', ${hash},
             convert_to(json_build_object('eventId', ${eventId}::text, 'deliveries', (select count(*) from subs))::text,
                        'UTF8')
      where ${key}::text <> ''
      on conflict (business_id, key) do nothing
      returning key),
    event as (
      insert into notifications.events (id, business_id, type, workflow_id, payload, created_at)
      select ${eventId}, ${e.businessId}, ${e.type}, ${e.workflowId}, ${sql.json(e.payload as never)}, ${at}
      where ${key}::text = '' or exists (select from claim)
      returning id),
    delivered as (
      insert into notifications.deliveries
        (id, event_id, subscription_id, business_id, workflow_id, status, next_attempt_at, created_at)
      select ${deliveryIdPrefix(eventId)} || lpad(subs.n::text, greatest(length(subs.n::text), 3), '0'), event.id,
             subs.id, ${e.businessId}, ${e.workflowId}, 'pending', ${at}, ${at}
      from event, subs order by subs.n
      returning 1)
    select (select count(*)::int from delivered) as deliveries,
           (${key}::text = '' or exists (select from claim)) as claimed, s.method, s.request_hash, s.response
    from (values (1)) as one (x)
    left join notifications.idempotency s on s.business_id = ${e.businessId} and s.key = ${key}`;
  if (out!.claimed) return { eventId, deliveries: out!.deliveries };
  if (out!.method) return replay(out!, hash);
  // The key's record was written by a concurrent attempt that committed while this statement waited on it.
  const [row] = await sql<Outcome[]>`
    select method, request_hash, response from notifications.idempotency
    where business_id = ${e.businessId} and key = ${key}`;
  if (!row) throw new UnavailableError("idempotency_key_busy", "another attempt with this key is under way");
  return replay(row, hash);
}

function replay(
  row: Pick<Outcome, "method" | "request_hash" | "response">,
  hash: string,
): PublishEventResponse {
  if (row.method !== "PublishEvent" || row.request_hash !== hash || !row.response) {
    throw new FailedPreconditionError(
      "idempotency_key_reused",
      "this idempotency key was already used with a different request",
    );
  }
  const bytes = Buffer.from(row.response);
  // Records written before publishing became one statement hold the protobuf response.
  if (bytes[0] !== 0x7b) return PublishEventResponse.decode(bytes);
  const json = JSON.parse(bytes.toString("utf8")) as { eventId: string; deliveries: number };
  return { eventId: json.eventId, deliveries: json.deliveries };
}
