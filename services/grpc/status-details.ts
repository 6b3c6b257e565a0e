import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import type { FieldViolation } from "../../core/index.ts";

/**
 * The few google.rpc messages we put in the `grpc-status-details-bin` trailer,
 * encoded by hand: google.rpc.Status { code, message, details: Any[] } with a
 * BadRequest (field violations) and an ErrorInfo (our stable error code).
 */
export const BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest";
export const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";

export interface StatusDetails {
  code: number;
  message: string;
  violations: FieldViolation[];
  /** ErrorInfo.reason: the LinkflowError code, e.g. `idempotency_key_reused`. */
  reason?: string;
  /** ErrorInfo.metadata. */
  metadata: Record<string, string>;
}

function encodeBadRequest(violations: FieldViolation[]): Uint8Array {
  const w = new BinaryWriter();
  for (const v of violations) {
    w.uint32(10).fork().uint32(10).string(v.field).uint32(18).string(v.description).join();
  }
  return w.finish();
}

function encodeErrorInfo(reason: string, metadata: Record<string, string>): Uint8Array {
  const w = new BinaryWriter();
  w.uint32(10).string(reason).uint32(18).string("linkflow");
  for (const [k, v] of Object.entries(metadata))
    w.uint32(26).fork().uint32(10).string(k).uint32(18).string(v).join();
  return w.finish();
}

export function encodeStatusDetails(d: StatusDetails): Buffer {
  const w = new BinaryWriter();
  w.uint32(8).int32(d.code).uint32(18).string(d.message);
  if (d.violations.length > 0) {
    w.uint32(26)
      .fork()
      .uint32(10)
      .string(BAD_REQUEST_TYPE)
      .uint32(18)
      .bytes(encodeBadRequest(d.violations))
      .join();
  }
  if (d.reason) {
    w.uint32(26)
      .fork()
      .uint32(10)
      .string(ERROR_INFO_TYPE)
      .uint32(18)
      .bytes(encodeErrorInfo(d.reason, d.metadata))
      .join();
  }
  return Buffer.from(w.finish());
}

function decodePair(bytes: Uint8Array): [string, string] {
  const r = new BinaryReader(bytes);
  let a = "";
  let b = "";
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) a = r.string();
    else if (tag >>> 3 === 2) b = r.string();
    else r.skip(tag & 7);
  }
  return [a, b];
}

function decodeAny(bytes: Uint8Array): { typeUrl: string; value: Uint8Array } {
  const r = new BinaryReader(bytes);
  let typeUrl = "";
  let value: Uint8Array = new Uint8Array();
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) typeUrl = r.string();
    else if (tag >>> 3 === 2) value = r.bytes();
    else r.skip(tag & 7);
  }
  return { typeUrl, value };
}

export function decodeStatusDetails(bytes: Uint8Array): StatusDetails {
  const out: StatusDetails = { code: 0, message: "", violations: [], metadata: {} };
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1) out.code = r.int32();
    else if (field === 2) out.message = r.string();
    else if (field === 3) {
      const any = decodeAny(r.bytes());
      const inner = new BinaryReader(any.value);
      while (inner.pos < inner.len) {
        const t = inner.uint32();
        if (any.typeUrl === BAD_REQUEST_TYPE && t >>> 3 === 1) {
          const [field, description] = decodePair(inner.bytes());
          out.violations.push({ field, description });
        } else if (any.typeUrl === ERROR_INFO_TYPE && t >>> 3 === 1) {
          out.reason = inner.string();
        } else if (any.typeUrl === ERROR_INFO_TYPE && t >>> 3 === 3) {
          const [k, v] = decodePair(inner.bytes());
          out.metadata[k] = v;
        } else inner.skip(t & 7);
      }
    } else r.skip(tag & 7);
  }
  return out;
}
