import { compileTemplate, type WorkflowProgram } from "../../dsl/index.ts";
import { StepStatus, type Workflow } from "../../proto/index.ts";
import { rpc } from "./api.ts";
import type { Ctx } from "./context.ts";

/** A document the customer accepted in one of the business's workflows. */
export interface AcceptedDocument {
  id: string;
  version: string;
  title: string;
  workflowId: string;
  at?: Date;
}

/** An upload (or identity-document) step the customer completed. */
export interface CompletedUpload {
  title: string;
  kinds: string[];
  workflowId: string;
  at?: Date;
}

/** What a customer did across their workflows, read from the public API only. */
export interface CustomerRecords {
  workflows: Workflow[];
  documents: AcceptedDocument[];
  uploads: CompletedUpload[];
}

const MAX_WORKFLOWS = 25;

/**
 * The customer's workflows (newest first) and, from their completed steps, the
 * documents accepted and the uploads made. The public API has no listing of
 * acceptances or uploads, so the console reads them where an integrator can:
 * each workflow's template (which says what a step asks for) and its journal
 * (when the step completed).
 */
export async function customerRecords(ctx: Ctx, customerId: string): Promise<CustomerRecords> {
  const { workflows } = await rpc(ctx.caller, ctx.api.workflows, "searchWorkflows", {
    pageSize: MAX_WORKFLOWS,
    pageToken: "",
    statuses: [],
    customerId,
    externalId: "",
    templateName: "",
    templateVersion: 0,
    query: "",
  });
  const programs = new Map<string, Promise<WorkflowProgram | undefined>>();
  const programOf = (name: string, version: number) => {
    const key = `${name}@${version}`;
    let p = programs.get(key);
    if (!p) {
      p = rpc(ctx.caller, ctx.api.templates, "getTemplate", { name, version }).then(
        (r) =>
          r.template ? compileTemplate(r.template.source, { file: `${name}.flow` }).program : undefined,
        () => undefined,
      );
      programs.set(key, p);
    }
    return p;
  };
  const documents: AcceptedDocument[] = [];
  const uploads: CompletedUpload[] = [];
  await Promise.all(
    workflows.map(async (w) => {
      const done = w.steps.filter((s) => s.status === StepStatus.STEP_STATUS_COMPLETED);
      if (done.length === 0) return;
      const program = await programOf(w.templateName, w.templateVersion);
      const kinds = done.map((s) => program?.steps.find((x) => x.id === s.id)?.action.kind);
      if (!kinds.some((k) => k === "accept_documents" || k === "upload_documents" || k === "verify_identity"))
        return;
      const history = await rpc(ctx.caller, ctx.api.workflows, "getWorkflowHistory", { workflowId: w.id });
      const when = (stepId: string) =>
        history.events.find((e) => e.type === "step.completed" && e.stepId === stepId)?.occurredAt;
      for (const s of done) {
        const action = program?.steps.find((x) => x.id === s.id)?.action;
        if (action?.kind === "accept_documents")
          for (const d of action.documents)
            documents.push({
              id: d.id,
              version: d.version ?? "",
              title: d.title ?? d.id,
              workflowId: w.id,
              at: when(s.id),
            });
        else if (action?.kind === "upload_documents")
          uploads.push({ title: s.title, kinds: action.kinds, workflowId: w.id, at: when(s.id) });
        else if (action?.kind === "verify_identity")
          uploads.push({ title: s.title, kinds: action.methods, workflowId: w.id, at: when(s.id) });
      }
    }),
  );
  const newest = (a: { at?: Date }, b: { at?: Date }) => (b.at?.getTime() ?? 0) - (a.at?.getTime() ?? 0);
  return { workflows, documents: documents.sort(newest), uploads: uploads.sort(newest) };
}
