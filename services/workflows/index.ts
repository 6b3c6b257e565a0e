/**
 * The workflow actor (a decider interpreting a compiled WorkflowProgram on the
 * generic runtime), its effects, the template store and the workflows
 * application service the gateway calls.
 */
export {
  confirmDetails,
  declineOptions,
  documentText,
  envOf,
  evolve,
  LINK_PLACEHOLDER,
  view,
  workflowBehavior,
} from "./behavior.ts";
export type { WorkflowEffectDeps } from "./effects.ts";
export { workflowEffects } from "./effects.ts";
export { hashToken, linkToken, looksLikeToken } from "./links.ts";
export { workflowsMigrations } from "./migrations.ts";
export type {
  CustomerSession,
  StepStatus,
  WorkflowCommand,
  WorkflowEvent,
  WorkflowState,
  WorkflowStatus,
  WorkflowView,
} from "./model.ts";
export { FINAL_STATUSES } from "./model.ts";
export { nextReminderAt } from "./schedule.ts";
export type { CreateWorkflowInput, Tenant, WorkflowsOptions } from "./service.ts";
export { Workflows } from "./service.ts";
export { PROFILE_FIELD_LABELS, SUPPORTED_STEP_KINDS, validateStepData } from "./steps.ts";
export type { StoredTemplate } from "./templates.ts";
export { SHARED_TEMPLATES, TemplateStore } from "./templates.ts";

/** Actor id prefix of workflows. */
export const WORKFLOW_ID_PREFIX = "wf_";
export type { BankLinkProvider, LinkedBankAccount } from "./banklink.ts";
export { BankLinkError, linkViaWaterfall, SANDBOX_INSTITUTIONS, sandboxProviders } from "./banklink.ts";
export type { TemplateVersionInfo, WorkflowCursor, WorkflowFilter } from "./queries.ts";
export { TemplateQueries, WorkflowProjector, WorkflowQueries } from "./queries.ts";
export type { UploadedFile } from "./uploads.ts";
export { sniffType } from "./uploads.ts";
