import { status } from "@grpc/grpc-js";
import { ConflictError, LinkflowError, NotFoundError, type Sql } from "../../core/index.ts";
import { compileTemplate, TemplateInvalidError, type WorkflowProgram } from "../../dsl/index.ts";

/** Templates every business can use (the ones shipped in examples/). */
export const SHARED_TEMPLATES = "*";

export interface StoredTemplate {
  businessId: string;
  name: string;
  version: number;
  program: WorkflowProgram;
}

/** Immutable template versions in Postgres; running workflows keep the program they started with. */
export class TemplateStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Compiles and stores a version. Publishing the same source again is a
   * no-op; a different program under an existing version is a conflict.
   */
  async publish(businessId: string, source: string, file = "template.flow"): Promise<StoredTemplate> {
    const { program, diagnostics } = compileTemplate(source, { file });
    if (!program) throw new TemplateInvalidError(diagnostics);
    const { name, version, title } = program.template;
    const rows = await this.sql`
      insert into workflows.templates (business_id, name, version, title, source, program, hash)
      values (${businessId}, ${name}, ${version}, ${title}, ${source}, ${this.sql.json(program as never)}, ${program.hash})
      on conflict (business_id, name, version) do nothing
      returning name`;
    if (rows.length === 0) {
      const [existing] = await this.sql<{ hash: string }[]>`
        select hash from workflows.templates where business_id = ${businessId} and name = ${name} and version = ${version}`;
      if (existing?.hash !== program.hash) {
        throw new ConflictError(
          "template_version_exists",
          `template ${name} version ${version} already exists with different content; publish a new version`,
        );
      }
    }
    return { businessId, name, version, program };
  }

  /** The business's own template, else a shared one; version 0 means the latest non-archived. */
  async load(businessIds: string[], name: string, version: number): Promise<StoredTemplate> {
    const owners = [...businessIds, SHARED_TEMPLATES];
    const rows = await this.sql<{ business_id: string; version: number; program: WorkflowProgram }[]>`
      select business_id, version, program from workflows.templates
       where business_id = any(${owners}) and name = ${name}
         and (${version}::int = 0 and not archived or version = ${version})
       order by (business_id = ${SHARED_TEMPLATES}), version desc
       limit 1`;
    const row = rows[0];
    if (!row) {
      throw version
        ? new NotFoundError("template", `${name} version ${version}`)
        : new NotFoundError("template", name);
    }
    if (row.program.irVersion !== 1) {
      throw new LinkflowError(
        "template_ir_unsupported",
        "the template was compiled by an incompatible version",
        {
          grpcStatus: status.FAILED_PRECONDITION,
        },
      );
    }
    return { businessId: row.business_id, name, version: row.version, program: row.program };
  }
}
