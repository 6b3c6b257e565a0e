import { status } from "@grpc/grpc-js";
import { LinkflowError } from "../core/index.ts";

/** The node's mailboxes are full; retry later (maps to RESOURCE_EXHAUSTED). */
export class BackpressureError extends LinkflowError {
  override readonly name = "BackpressureError";
  constructor() {
    super("runtime_overloaded", "the node is overloaded, retry later", {
      grpcStatus: status.RESOURCE_EXHAUSTED,
      retryable: true,
    });
  }
}

/** This node does not (or no longer) own the actor's shard; the write was fenced off. */
export class ShardNotOwnedError extends LinkflowError {
  override readonly name = "ShardNotOwnedError";
  constructor(shard: number) {
    super("shard_not_owned", `shard ${shard} is not owned by this node`, {
      grpcStatus: status.UNAVAILABLE,
      retryable: true,
    });
  }
}

/** No node answered for the shard before the deadline. */
export class ShardUnavailableError extends LinkflowError {
  override readonly name = "ShardUnavailableError";
  constructor(shard: number, cause?: unknown) {
    super("shard_unavailable", `no node is serving shard ${shard}`, {
      grpcStatus: status.UNAVAILABLE,
      retryable: true,
      cause,
    });
  }
}

export class DeadlineExceededError extends LinkflowError {
  override readonly name = "DeadlineExceededError";
  constructor() {
    super("deadline_exceeded", "the deadline passed before the actor answered", {
      grpcStatus: status.DEADLINE_EXCEEDED,
      retryable: true,
    });
  }
}

/** Another writer appended to the actor's journal first (optimistic concurrency). */
export class JournalConflictError extends LinkflowError {
  override readonly name = "JournalConflictError";
  constructor(actorId: string) {
    super("journal_conflict", `concurrent write to actor ${actorId}`, {
      grpcStatus: status.ABORTED,
      retryable: true,
    });
  }
}

/** The journal could not be reached or the commit's outcome is unknown; retry with the same command id. */
export class JournalUnavailableError extends LinkflowError {
  override readonly name = "JournalUnavailableError";
  constructor(cause?: unknown) {
    super("journal_unavailable", "the journal could not be written, retry with the same command id", {
      grpcStatus: status.UNAVAILABLE,
      retryable: true,
      cause,
    });
  }
}
