import { type FieldViolation, NotFoundError, ValidationError } from "../../core/index.ts";
import { compileTemplate, type Diagnostic } from "../../dsl/index.ts";
import {
  ArchiveTemplateResponse,
  DiagnosticSeverity,
  PublishTemplateResponse,
  type Template,
  type TemplateDiagnostic,
  type TemplateServiceServer,
} from "../../proto/index.ts";
import type { TemplateQueries, TemplateVersionInfo } from "../../services/workflows/index.ts";
import { SHARED_TEMPLATES, type TemplateStore } from "../../services/workflows/index.ts";
import type { Rpc } from "./rpc.ts";

const MAX_SOURCE = 256 * 1024;
const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const FILE_NAME = /^[\w.-]{1,100}$/;

function toDiagnostic(d: Diagnostic): TemplateDiagnostic {
  return {
    code: d.code,
    severity:
      d.severity === "error"
        ? DiagnosticSeverity.DIAGNOSTIC_SEVERITY_ERROR
        : DiagnosticSeverity.DIAGNOSTIC_SEVERITY_WARNING,
    message: d.message,
    file: d.file,
    startLine: d.range.start.line,
    startColumn: d.range.start.column,
    endLine: d.range.end.line,
    endColumn: d.range.end.column,
    hint: d.hint ?? "",
  };
}

function toTemplate(t: TemplateVersionInfo): Template {
  const shared = t.businessId === SHARED_TEMPLATES;
  return {
    name: t.name,
    version: t.version,
    title: t.title,
    hash: t.hash,
    archived: t.archived,
    shared,
    createdAt: t.createdAt,
    source: t.source ?? "",
    usage: { workflowCount: t.usage.workflowCount, lastUsedAt: t.usage.lastUsedAt },
    businessId: shared ? "" : t.businessId,
  };
}

function checkSource(source: string, fileName: string): void {
  const v: FieldViolation[] = [];
  if (!source?.trim()) v.push({ field: "source", description: "is required" });
  else if (Buffer.byteLength(source) > MAX_SOURCE)
    v.push({ field: "source", description: "must be at most 256 KiB" });
  if (fileName && !FILE_NAME.test(fileName))
    v.push({ field: "file_name", description: "must be 1 to 100 letters, digits, '.', '_' or '-'" });
  if (v.length > 0) throw new ValidationError(v);
}

function checkName(name: string, version: number | undefined, versionRequired: boolean): void {
  const v: FieldViolation[] = [];
  if (!name) v.push({ field: "name", description: "is required" });
  else if (!NAME.test(name))
    v.push({ field: "name", description: "must be a template name like onboard_and_pay" });
  if (version !== undefined) {
    if (version < 0 || (versionRequired && version === 0))
      v.push({
        field: "version",
        description: versionRequired ? "must be a version (1 or more)" : "must be 0 (latest) or a version",
      });
  }
  if (v.length > 0) throw new ValidationError(v);
}

export interface TemplateServiceDeps {
  rpc: Rpc;
  store: TemplateStore;
  queries: TemplateQueries;
}

/** The public TemplateService over the immutable template store. */
export function templateServiceImpl(deps: TemplateServiceDeps): TemplateServiceServer {
  const { rpc, store, queries } = deps;
  return {
    validateTemplate: rpc.unary("ValidateTemplate", async (req) => {
      checkSource(req.source, req.fileName);
      const { program, diagnostics } = compileTemplate(req.source, { file: req.fileName || "template.flow" });
      return {
        valid: program !== undefined,
        diagnostics: diagnostics.map(toDiagnostic),
        name: program?.template.name ?? "",
        version: program?.template.version ?? 0,
        title: program?.template.title ?? "",
        hash: program?.hash ?? "",
      };
    }),
    publishTemplate: rpc.mutation("PublishTemplate", PublishTemplateResponse, async (req, { tenant }) => {
      checkSource(req.source, req.fileName);
      const file = req.fileName || "template.flow";
      const { program, diagnostics } = compileTemplate(req.source, { file });
      if (!program) {
        throw new ValidationError(
          diagnostics
            .filter((d) => d.severity === "error")
            .map((d) => ({
              field: "source",
              description: `${d.file}:${d.range.start.line}:${d.range.start.column}: ${d.code} ${d.message}${d.hint ? ` (${d.hint})` : ""}`,
            })),
          `the template has errors: ${diagnostics[0]?.message ?? "it does not compile"}`,
        );
      }
      const stored = await store.publish(tenant.businessId, req.source, file);
      const info = await queries.get([tenant.businessId], stored.name, stored.version);
      return { template: toTemplate(info), diagnostics: diagnostics.map(toDiagnostic) };
    }),
    getTemplate: rpc.unary("GetTemplate", async (req, { tenant }) => {
      checkName(req.name, req.version, false);
      return { template: toTemplate(await queries.get(tenant.scope, req.name, req.version)) };
    }),
    listTemplates: rpc.unary("ListTemplates", async (req, { tenant }) => ({
      templates: (await queries.latest(tenant.scope, req.includeArchived)).map(toTemplate),
    })),
    listTemplateVersions: rpc.unary("ListTemplateVersions", async (req, { tenant }) => {
      checkName(req.name, undefined, false);
      const versions = await queries.versions(tenant.scope, req.name);
      if (versions.length === 0) throw new NotFoundError("template", req.name);
      return { templates: versions.map(toTemplate) };
    }),
    archiveTemplate: rpc.mutation("ArchiveTemplate", ArchiveTemplateResponse, async (req, { tenant }) => {
      checkName(req.name, req.version, true);
      return {
        template: toTemplate(await queries.archive(tenant.businessId, tenant.scope, req.name, req.version)),
      };
    }),
  };
}
