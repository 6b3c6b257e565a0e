import { createHash } from "node:crypto";
import { type FieldViolation, newId, type Sql, ValidationError } from "../../core/index.ts";

/** A file the customer sent from the page. */
export interface UploadedFile {
  field: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

const MAGIC: Record<string, (b: Buffer) => boolean> = {
  "application/pdf": (b) => b.subarray(0, 5).toString("latin1") === "%PDF-",
  "image/jpeg": (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  "image/png": (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
};

/** The type a file really is, judged by its first bytes rather than by its name or the browser's claim. */
export function sniffType(data: Buffer): string | undefined {
  for (const [type, test] of Object.entries(MAGIC)) if (test(data)) return type;
  return undefined;
}

/**
 * Checks files against a step's limits: count, size, and allowed types
 * (sniffed from content). Returns violations on the page's field name.
 */
export function checkFiles(
  files: UploadedFile[],
  field: string,
  limits: { minCount: number; maxCount: number; maxSizeBytes: number; contentTypes: string[] },
): FieldViolation[] {
  const v: FieldViolation[] = [];
  const real = files.filter((f) => f.data.length > 0);
  if (real.length < limits.minCount) {
    v.push({
      field,
      description: `Please add at least ${limits.minCount} file${limits.minCount === 1 ? "" : "s"}`,
    });
  }
  if (real.length > limits.maxCount)
    v.push({ field, description: `Please add at most ${limits.maxCount} files` });
  for (const f of real) {
    if (f.data.length > limits.maxSizeBytes) {
      v.push({
        field,
        description: `${f.filename} is larger than ${Math.round(limits.maxSizeBytes / 1_048_576)} MB`,
      });
    }
    const type = sniffType(f.data);
    if (limits.contentTypes.length > 0 && (!type || !limits.contentTypes.includes(type))) {
      v.push({ field, description: `${f.filename} must be ${limits.contentTypes.join(" or ")}` });
    }
  }
  return v;
}

/** Stores files in the workflows schema; returns their ids. */
export async function storeUploads(
  sql: Sql,
  ctx: { businessId: string; workflowId: string; stepId: string; kind: string },
  files: UploadedFile[],
): Promise<{ id: string; sha256: string; size: number }[]> {
  const out: { id: string; sha256: string; size: number }[] = [];
  for (const f of files.filter((x) => x.data.length > 0)) {
    const id = newId("upl");
    const sha256 = createHash("sha256").update(f.data).digest("hex");
    await sql`insert into workflows.uploads (id, business_id, workflow_id, step_id, kind, filename, content_type, size_bytes, sha256, content)
      values (${id}, ${ctx.businessId}, ${ctx.workflowId}, ${ctx.stepId}, ${ctx.kind}, ${f.filename.slice(0, 200)},
              ${sniffType(f.data) ?? "application/octet-stream"}, ${f.data.length}, ${sha256}, ${f.data})`;
    out.push({ id, sha256, size: f.data.length });
  }
  return out;
}

export function requireFiles(v: FieldViolation[]): void {
  if (v.length > 0) throw new ValidationError(v);
}
