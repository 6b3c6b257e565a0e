import { createHash } from "node:crypto";
import {
  type Clock,
  ConflictError,
  FailedPreconditionError,
  type FieldViolation,
  NotFoundError,
  newId,
  type Sql,
  systemClock,
  ValidationError,
} from "../../core/index.ts";
import { bindInputs, type Channel, evaluateRules } from "../../dsl/index.ts";
import type { AccountsServiceClient } from "../../proto/index.ts";
import type { RuntimeNode } from "../../runtime/index.ts";
import { isE164, isEmail } from "../grpc/index.ts";
import {
  BankLinkError,
  type BankLinkProvider,
  type LinkedBankAccount,
  linkViaWaterfall,
  sandboxProviders,
} from "./banklink.ts";
import type { WorkflowQuery } from "./behavior.ts";
import { hashToken, linkToken, linkUrl, looksLikeToken } from "./links.ts";
import {
  type CustomerSession,
  FINAL_STATUSES,
  type WorkflowCommand,
  type WorkflowEvent,
  type WorkflowState,
  type WorkflowView,
} from "./model.ts";
import { SUPPORTED_STEP_KINDS } from "./steps.ts";
import type { TemplateStore } from "./templates.ts";
import { checkFiles, requireFiles, storeUploads, type UploadedFile } from "./uploads.ts";
import { type FinancialAccountForm, vaultFinancialAccount, vaultLinkedAccount } from "./vault.ts";

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{6,255}$/;

export interface CreateWorkflowInput {
  templateName: string;
  /** 0 = latest. */
  templateVersion: number;
  inputs: Record<string, string>;
  customerPhone?: string;
  customerEmail?: string;
  customerId?: string;
  channel?: "sms" | "email" | "sms_and_email";
  externalId?: string;
  memo?: string;
  expiresInMs?: number;
  idempotencyKey?: string;
}

/** The business a request acts for, as authenticated by the gateway. */
export interface Tenant {
  businessId: string;
  businessName: string;
  /** Businesses whose templates and workflows this tenant may use (itself and its children). */
  scope: string[];
}

export interface WorkflowsOptions {
  sql: Sql;
  node: RuntimeNode;
  templates: TemplateStore;
  linkSecret: string;
  /** Base URL of the customer page, e.g. https://link.example.com */
  publicBaseUrl: string;
  clock?: Clock;
  askTimeoutMs?: number;
  /** Needed to vault financial accounts the customer enters. */
  accounts?: AccountsServiceClient;
  /** Bank-link providers by name; default: the providers' sandboxes. */
  bankLinkProviders?: Record<"plaid" | "finicity", BankLinkProvider>;
}

/**
 * The workflows application service: validates requests, keeps the tenant
 * index and link lookup, and reaches each workflow actor only through the
 * runtime's `ask`. Bad requests are refused here and never reach an actor.
 */
export class Workflows {
  readonly clock: Clock;
  #links = new Map<string, string>();
  constructor(private readonly o: WorkflowsOptions) {
    this.clock = o.clock ?? systemClock;
  }

  linkFor(workflowId: string, linkVersion: number): string {
    return linkUrl(this.o.publicBaseUrl, linkToken(this.o.linkSecret, workflowId, linkVersion));
  }

  async create(
    tenant: Tenant,
    req: CreateWorkflowInput,
  ): Promise<{ workflow: WorkflowView; linkUrl: string }> {
    const v: FieldViolation[] = [];
    const phone = req.customerPhone?.trim() || undefined;
    const email = req.customerEmail?.trim() || undefined;
    if (!req.templateName?.trim()) v.push({ field: "template_name", description: "is required" });
    if (req.templateVersion < 0)
      v.push({ field: "template_version", description: "must be 0 (latest) or a version" });
    if (phone && !isE164(phone)) {
      v.push({ field: "customer_phone", description: "must be an E.164 phone number like +14155550123" });
    }
    if (email && !isEmail(email))
      v.push({ field: "customer_email", description: "must be an email address" });
    if (!phone && !email && !req.customerId) {
      v.push({ field: "customer_phone", description: "a customer phone, email or customer id is required" });
    }
    if (req.idempotencyKey && !IDEMPOTENCY_KEY.test(req.idempotencyKey)) {
      v.push({ field: "idempotency_key", description: "must be 6 to 255 printable characters" });
    }
    if ((req.memo?.length ?? 0) > 500)
      v.push({ field: "memo", description: "must be at most 500 characters" });
    if ((req.externalId?.length ?? 0) > 255)
      v.push({ field: "external_id", description: "must be at most 255 characters" });
    if (req.expiresInMs !== undefined && (req.expiresInMs < 60_000 || req.expiresInMs > 90 * 86_400_000)) {
      v.push({ field: "expires_in", description: "must be between 1 minute and 90 days" });
    }
    if (v.length > 0) throw new ValidationError(v);

    const tpl = await this.o.templates.load(tenant.scope, req.templateName.trim(), req.templateVersion);
    const program = tpl.program;
    const unsupported = program.steps.filter((s) => !SUPPORTED_STEP_KINDS.has(s.action.kind));
    if (unsupported.length > 0) {
      throw new FailedPreconditionError(
        "step_kind_unsupported",
        `this server cannot run steps of kind ${[...new Set(unsupported.map((s) => s.action.kind))].join(", ")} yet`,
      );
    }
    const bound = bindInputs(program, req.inputs ?? {});
    if (!bound.ok) throw new ValidationError(bound.violations);
    const rules = evaluateRules(program, { input: bound.values });
    if (!rules.ok) {
      throw new ValidationError(
        [{ field: "inputs", description: rules.message }],
        `rule ${rules.rule}: ${rules.message}`,
      );
    }
    const channels = channelsFor(req.channel, program.link.channels);
    for (const ch of channels) {
      if (ch === "sms" && !phone)
        v.push({ field: "customer_phone", description: "is required to send the link by SMS" });
      if (ch === "email" && !email)
        v.push({ field: "customer_email", description: "is required to send the link by email" });
    }
    if (v.length > 0) throw new ValidationError(v);

    const requestHash = createHash("sha256")
      .update(
        JSON.stringify([
          tpl.businessId,
          tpl.name,
          tpl.version,
          bound.values,
          phone,
          email,
          req.customerId,
          channels,
          req.externalId,
          req.memo,
          req.expiresInMs,
        ]),
      )
      .digest("hex");
    const key = req.idempotencyKey ?? newId("idem");
    const workflowId = await this.#reserve(
      tenant.businessId,
      key,
      requestHash,
      tpl.name,
      tpl.version,
      req.externalId,
    );

    const command: WorkflowCommand = {
      type: "create",
      businessId: tenant.businessId,
      businessName: tenant.businessName,
      program,
      inputs: bound.values,
      recipient: { phone, email },
      customerId: req.customerId || undefined,
      channels,
      memo: req.memo || undefined,
      externalId: req.externalId || undefined,
      expiresInMs: req.expiresInMs,
    };
    const view = await this.o.node.ask<WorkflowView>(workflowId, command, {
      commandId: "create",
      timeoutMs: this.o.askTimeoutMs,
    });
    return { workflow: view, linkUrl: this.linkFor(workflowId, view.linkVersion) };
  }

  /**
   * Records the idempotency key, the tenant index row and the link hash in one
   * statement (atomic, one round trip): the workflow and link rows are written
   * only when the key's row is new. A key already used answers its workflow,
   * or `idempotency_key_reused` when the request differs.
   */
  async #reserve(
    businessId: string,
    key: string,
    requestHash: string,
    templateName: string,
    templateVersion: number,
    externalId?: string,
  ): Promise<string> {
    const sql = this.o.sql;
    const id = newId("wf", this.clock.now());
    const tokenHash = hashToken(linkToken(this.o.linkSecret, id, 1));
    const inserted = await sql<{ workflow_id: string }[]>`
      with req as (
        insert into workflows.create_requests (business_id, idempotency_key, request_hash, workflow_id)
        values (${businessId}, ${key}, ${requestHash}, ${id})
        on conflict do nothing returning workflow_id
      ), wf as (
        insert into workflows.workflows (id, business_id, template_name, template_version, external_id)
        select workflow_id, ${businessId}, ${templateName}, ${templateVersion}, ${externalId ?? null} from req
      ), ln as (
        insert into workflows.links (token_hash, workflow_id, link_version)
        select ${tokenHash}, workflow_id, 1 from req
      )
      select workflow_id from req`;
    if (inserted.length > 0) {
      // This node will most likely serve the link's first visit: spare it the lookup.
      this.#rememberLink(tokenHash, id);
      return id;
    }
    const [row] = await sql<{ request_hash: string; workflow_id: string }[]>`
      select request_hash, workflow_id from workflows.create_requests
       where business_id = ${businessId} and idempotency_key = ${key}`;
    if (!row || row.request_hash !== requestHash) {
      throw new ConflictError(
        "idempotency_key_reused",
        "this idempotency key was already used for a different request",
      );
    }
    return row.workflow_id;
  }

  /** Throws NOT_FOUND unless the workflow belongs to one of the tenant's businesses. */
  async #authorize(tenant: Tenant, workflowId: string): Promise<void> {
    const rows = await this.o.sql`
      select 1 from workflows.workflows where id = ${workflowId} and business_id = any(${tenant.scope})`;
    if (rows.length === 0) throw new NotFoundError("workflow", workflowId);
  }

  async get(tenant: Tenant, workflowId: string): Promise<WorkflowView> {
    await this.#authorize(tenant, workflowId);
    return this.o.node.query<WorkflowView>(workflowId, {});
  }

  async link(tenant: Tenant, workflowId: string): Promise<string> {
    const v = await this.get(tenant, workflowId);
    return this.linkFor(workflowId, v.linkVersion);
  }

  async resend(tenant: Tenant, workflowId: string, by: string, commandId?: string): Promise<WorkflowView> {
    await this.#authorize(tenant, workflowId);
    return this.o.node.ask(workflowId, { type: "resend", by } satisfies WorkflowCommand, { commandId });
  }

  async extend(
    tenant: Tenant,
    workflowId: string,
    expireAt: number,
    by: string,
    commandId?: string,
  ): Promise<WorkflowView> {
    await this.#authorize(tenant, workflowId);
    return this.o.node.ask(workflowId, { type: "extend", expireAt, by } satisfies WorkflowCommand, {
      commandId,
    });
  }

  async cancel(
    tenant: Tenant,
    workflowId: string,
    by: string,
    reason?: string,
    commandId?: string,
  ): Promise<WorkflowView> {
    await this.#authorize(tenant, workflowId);
    return this.o.node.ask(workflowId, { type: "cancel", by, reason } satisfies WorkflowCommand, {
      commandId,
    });
  }

  async history(
    tenant: Tenant,
    workflowId: string,
  ): Promise<{ seq: number; at: number; event: WorkflowEvent }[]> {
    await this.#authorize(tenant, workflowId);
    const events = await this.o.node.journal.events(workflowId);
    return events.map((e) => ({
      seq: e.seq,
      at: (e.data as WorkflowEvent).at,
      event: e.data as WorkflowEvent,
    }));
  }

  // ---- the customer's side (authorized by the link token, not an API key) ----

  /** The workflow a link token opens, or undefined for an unknown or superseded token. */
  async resolveLink(token: string): Promise<string | undefined> {
    if (!looksLikeToken(token)) return undefined;
    const hash = hashToken(token);
    // A token always names the same workflow, so known ones are answered from memory (bounded).
    const hit = this.#links.get(hash);
    if (hit) return hit;
    const [row] = await this.o.sql<{ workflow_id: string }[]>`
      select workflow_id from workflows.links where token_hash = ${hash}`;
    if (row) this.#rememberLink(hash, row.workflow_id);
    return row?.workflow_id;
  }

  /** Remembers which workflow a link token hash opens (bounded; a token always names the same workflow). */
  #rememberLink(tokenHash: string, workflowId: string): void {
    if (this.#links.size >= 50_000) this.#links.delete(this.#links.keys().next().value!);
    this.#links.set(tokenHash, workflowId);
  }

  /** Full state for rendering the customer's page (the program is needed to draw each step). */
  async stateForCustomer(workflowId: string): Promise<WorkflowState> {
    return this.o.node.query<WorkflowState>(workflowId, { full: true });
  }

  /**
   * Waits (briefly) until the step's activity has finished, so the customer's
   * next page shows the next step rather than a "just a moment" page. The
   * node holding the workflow answers at the commit that settles the step (or
   * after `timeoutMs` with the state then), wherever the page is served.
   */
  async settled(workflowId: string, stepId: string, timeoutMs = 3000): Promise<WorkflowState> {
    return this.o.node.query<WorkflowState>(
      workflowId,
      { full: true, settledStep: stepId } satisfies WorkflowQuery,
      { waitMs: timeoutMs },
    );
  }

  async open(workflowId: string): Promise<WorkflowView> {
    return this.o.node.ask(workflowId, { type: "open" } satisfies WorkflowCommand);
  }

  async submitStep(
    workflowId: string,
    stepId: string,
    data: Record<string, unknown>,
    session: CustomerSession,
    opts: {
      commandId?: string;
      /** The workflow's state the caller just read (saves reading it again). */
      state?: WorkflowState;
    } = {},
  ): Promise<WorkflowView> {
    let payload = data;
    const s = opts.state ?? (await this.stateForCustomer(workflowId));
    const ir = s.program?.steps.find((x) => x.id === stepId);
    const active = s.steps.find((x) => x.id === stepId)?.status === "active";
    if (ir?.action.kind === "collect_financial_account" && active && !FINAL_STATUSES.has(s.status)) {
      if (!ir.action.manual) {
        throw new ValidationError([{ field: "kind", description: "Please connect your bank below" }]);
      }
      if (!this.o.accounts) {
        throw new FailedPreconditionError(
          "accounts_unavailable",
          "financial accounts cannot be collected on this node",
        );
      }
      payload = {
        ...(await vaultFinancialAccount(
          this.o.accounts,
          this.#vaultContext(s, stepId),
          data as unknown as FinancialAccountForm,
          ir.action.accountKinds,
        )),
      };
    }
    return this.o.node.ask(
      workflowId,
      { type: "submit_step", stepId, data: payload, session } satisfies WorkflowCommand,
      { commandId: opts.commandId },
    );
  }

  /** Whose account the vault stores, for which step, and the secret its fingerprint is keyed with. */
  #vaultContext(s: WorkflowState, stepId: string) {
    return {
      businessId: s.businessId,
      workflowId: s.id,
      stepId,
      customerId: s.customerId,
      recipient: s.recipient,
      secret: this.o.linkSecret,
    };
  }

  /** The active step of a workflow, when it is of `kind`; otherwise a precise refusal. */
  async #activeStep(workflowId: string, stepId: string, kinds: string[]) {
    const s = await this.stateForCustomer(workflowId);
    const ir = s.program?.steps.find((x) => x.id === stepId);
    if (FINAL_STATUSES.has(s.status)) {
      throw new FailedPreconditionError("workflow_not_active", `the workflow is ${s.status}`);
    }
    if (!ir || s.steps.find((x) => x.id === stepId)?.status !== "active" || !kinds.includes(ir.action.kind)) {
      throw new FailedPreconditionError("step_not_current", `step ${stepId} is not the current step`);
    }
    return { s, ir };
  }

  /** Links the customer's bank through the step's providers, in order, and submits the step with the result. */
  async linkBank(
    workflowId: string,
    stepId: string,
    login: { institution: string; username: string; password: string },
    session: CustomerSession,
  ): Promise<WorkflowView> {
    const { s, ir } = await this.#activeStep(workflowId, stepId, ["collect_financial_account"]);
    if (
      ir.action.kind !== "collect_financial_account" ||
      ir.action.providers.length === 0 ||
      !this.o.accounts
    ) {
      throw new FailedPreconditionError("bank_link_unavailable", "this step does not link banks");
    }
    const providers = this.o.bankLinkProviders ?? sandboxProviders;
    let linked: LinkedBankAccount;
    try {
      linked = await linkViaWaterfall(
        ir.action.providers.map((p) => providers[p]),
        login.institution,
        login.username,
        login.password,
      );
    } catch (err) {
      if (err instanceof BankLinkError) {
        throw new ValidationError([
          { field: err.reason === "credentials" ? "username" : "institution", description: err.message },
        ]);
      }
      throw err;
    }
    const vaulted = await vaultLinkedAccount(this.o.accounts, this.#vaultContext(s, stepId), linked);
    return this.o.node.ask(workflowId, {
      type: "submit_step",
      stepId,
      data: { ...vaulted },
      session,
    } satisfies WorkflowCommand);
  }

  /**
   * Files for an upload or identity step: checked (count, size, type sniffed
   * from content), stored, then the step is submitted with their ids.
   */
  async submitFiles(
    workflowId: string,
    stepId: string,
    files: UploadedFile[],
    session: CustomerSession,
  ): Promise<WorkflowView> {
    const { s, ir } = await this.#activeStep(workflowId, stepId, ["upload_documents", "verify_identity"]);
    const a = ir.action;
    const ctx = { businessId: s.businessId, workflowId, stepId };
    if (a.kind === "upload_documents") {
      requireFiles(
        checkFiles(
          files.filter((f) => f.field === "files"),
          "files",
          a,
        ),
      );
      const stored = await storeUploads(
        this.o.sql,
        { ...ctx, kind: a.kinds.join(",") },
        files.filter((f) => f.field === "files"),
      );
      return this.o.node.ask(workflowId, {
        type: "submit_step",
        stepId,
        data: { upload_ids: stored.map((x) => x.id).join(",") },
        session,
      } satisfies WorkflowCommand);
    }
    if (a.kind !== "verify_identity")
      throw new FailedPreconditionError("step_not_current", "not a file step");
    // The sandbox identity check: one clear photo per required method (a document, a selfie).
    const methods = a.methods.length > 0 ? a.methods : ["document"];
    const v = methods.flatMap((m) =>
      checkFiles(
        files.filter((f) => f.field === m),
        m,
        {
          minCount: 1,
          maxCount: 1,
          maxSizeBytes: 10 * 1_048_576,
          contentTypes: ["image/jpeg", "image/png"],
        },
      ),
    );
    requireFiles(v);
    const ids: string[] = [];
    for (const m of methods) {
      ids.push(
        ...(
          await storeUploads(
            this.o.sql,
            { ...ctx, kind: `identity_${m}` },
            files.filter((f) => f.field === m),
          )
        ).map((x) => x.id),
      );
    }
    return this.o.node.ask(workflowId, {
      type: "submit_step",
      stepId,
      data: { verified: "true", method: methods.join(","), check_id: ids.join(",") },
      session,
    } satisfies WorkflowCommand);
  }

  async decline(workflowId: string, stepId: string, reason: string, otherText?: string, commandId?: string) {
    return this.o.node.ask<WorkflowView>(
      workflowId,
      { type: "decline", stepId, reason, otherText } satisfies WorkflowCommand,
      { commandId },
    );
  }
}

function channelsFor(requested: CreateWorkflowInput["channel"], fromTemplate: Channel[]): Channel[] {
  if (requested === "sms") return ["sms"];
  if (requested === "email") return ["email"];
  if (requested === "sms_and_email") return ["sms", "email"];
  return fromTemplate.length > 0 ? fromTemplate : ["sms"];
}
