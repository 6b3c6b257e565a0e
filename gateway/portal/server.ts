import type { IncomingMessage, ServerResponse } from "node:http";
import { createLogger, type EphemeralStore, LinkflowError, type Logger } from "../../core/index.ts";
import {
  FINAL_STATUSES,
  type UploadedFile,
  type WorkflowState,
  type Workflows,
} from "../../services/workflows/index.ts";
import { STYLESHEET } from "./html.ts";
import { multipartBoundary, parseMultipart } from "./multipart.ts";
import {
  codePage,
  errorPage,
  finalPage,
  lockedPage,
  notFoundPage,
  processingPage,
  stepPage,
} from "./pages.ts";
import { csrfToken, csrfValid, newSessionId, readCookie, SESSION_COOKIE, sessionCookie } from "./session.ts";
import { allow, Verification } from "./verification.ts";

export interface PortalOptions {
  workflows: Workflows;
  /** Sessions' verification state, one-time codes and rate limits. */
  store: EphemeralStore;
  /** Texts a one-time code to the workflow's customer. */
  sendCode?: (workflow: WorkflowState, code: string) => Promise<void>;
  /** Requests per minute per client IP and per link. */
  rateLimits?: { perIp: number; perLink: number };
  /** Secret for CSRF tokens. */
  secret: string;
  /** Mark cookies Secure (when served over https). */
  secureCookies?: boolean;
  log?: Logger;
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

const MAX_BODY = 64 * 1024;
/** Uploads: the largest step allows a handful of 10 MB files. */
const MAX_UPLOAD = 64 * 1024 * 1024;

function send(res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(code, { "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS, ...headers });
  res.end(body);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit)
      throw new LinkflowError("payload_too_large", "the form is too large", { grpcStatus: 8 });
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Who submitted a step, as evidence kept with acceptances: the client's
 * address and browser. A browser that sends no User-Agent is recorded as
 * such, so the step still completes.
 */
function customerSession(req: IncomingMessage): { ip: string | undefined; userAgent: string } {
  const ua = String(req.headers["user-agent"] ?? "")
    .trim()
    .slice(0, 300);
  return { ip: req.socket.remoteAddress, userAgent: ua || "(not sent)" };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams((await readBody(req, MAX_BODY)).toString("utf8"));
}

/**
 * The customer's hosted page: server-rendered, works without JavaScript.
 * Returns a request handler for paths under /l/ and /static/; anything else
 * answers false so the caller can route it.
 */
export function createPortal(
  o: PortalOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const log = o.log ?? createLogger({ component: "portal" });
  const secure = o.secureCookies ?? false;
  const verification = new Verification(o.store, o.secret);
  const limits = o.rateLimits ?? { perIp: 600, perLink: 300 };

  /** Sends a fresh code (when allowed) and returns the notice to show. */
  const sendNewCode = async (s: WorkflowState, sid: string): Promise<string> => {
    const code = await verification.issue(s.id, sid);
    if (!code) return "You asked for several codes already. Please use the last one or wait a few minutes.";
    await o.sendCode?.(s, code);
    return "We sent you a new code by text message.";
  };
  const needsCode = (s: WorkflowState) => !!s.program?.link.verifyWithCode && !!s.recipient.phone;

  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://portal.invalid");
    if (url.pathname === "/static/portal.css") {
      res.writeHead(200, {
        "content-type": "text/css; charset=utf-8",
        "cache-control": "public, max-age=3600",
      });
      res.end(STYLESHEET);
      return true;
    }
    const m = /^\/l\/([^/]+)$/.exec(url.pathname);
    if (!m) return false;
    try {
      let token = "";
      try {
        token = decodeURIComponent(m[1] ?? "");
      } catch {
        // Malformed percent-encoding: no such link.
      }
      const workflowId = await o.workflows.resolveLink(token);
      if (!workflowId) {
        send(res, 404, notFoundPage());
        return true;
      }
      const ip = req.socket.remoteAddress ?? "?";
      if (
        !(await allow(o.store, `ip:${ip}`, limits.perIp, 60_000)) ||
        !(await allow(o.store, `link:${workflowId}`, limits.perLink, 60_000))
      ) {
        send(res, 429, errorPage("Slow down", "Too many requests. Please wait a minute and try again."), {
          "retry-after": "60",
        });
        return true;
      }
      let sid = readCookie(req, SESSION_COOKIE);
      const setCookie: Record<string, string> = {};
      if (!sid || !/^[A-Za-z0-9_-]{24}$/.test(sid)) {
        sid = newSessionId();
        setCookie["set-cookie"] = sessionCookie(sid, secure);
      }
      const action = `/l/${encodeURIComponent(token)}`;

      if (req.method === "POST") {
        const boundary = multipartBoundary(req.headers["content-type"]);
        let form: URLSearchParams;
        const files: UploadedFile[] = [];
        if (boundary) {
          form = new URLSearchParams();
          for (const part of parseMultipart(await readBody(req, MAX_UPLOAD), boundary)) {
            if (part.filename !== undefined) {
              files.push({
                field: part.name,
                filename: part.filename,
                contentType: part.contentType ?? "",
                data: part.data,
              });
            } else form.append(part.name, part.data.toString("utf8"));
          }
        } else {
          form = await readForm(req);
        }
        if (!csrfValid(o.secret, readCookie(req, SESSION_COOKIE), workflowId, form.get("_csrf"))) {
          send(
            res,
            403,
            errorPage("This form has expired", "Please go back, reload the page and try again."),
          );
          return true;
        }
        const csrf = csrfToken(o.secret, sid, workflowId);
        const formAction = form.get("_action");
        if (formAction === "verify_code" || formAction === "resend_code") {
          const s = await o.workflows.stateForCustomer(workflowId);
          if (formAction === "resend_code") {
            if (await verification.isLocked(workflowId)) send(res, 429, lockedPage(s));
            else send(res, 200, codePage(s, action, csrf, { notice: await sendNewCode(s, sid) }));
            return true;
          }
          const r = await verification.check(workflowId, sid, form.get("code") ?? "");
          if (r.result === "ok") {
            res.writeHead(303, { location: action, ...SECURITY_HEADERS });
            res.end();
          } else if (r.result === "locked") {
            send(res, 429, lockedPage(s));
          } else if (r.result === "expired") {
            send(
              res,
              422,
              codePage(s, action, csrf, { error: `That code has expired. ${await sendNewCode(s, sid)}` }),
            );
          } else {
            send(
              res,
              422,
              codePage(s, action, csrf, {
                error: `That code is not right. ${r.attemptsLeft} ${r.attemptsLeft === 1 ? "attempt" : "attempts"} left.`,
              }),
            );
          }
          return true;
        }
        const current = await o.workflows.stateForCustomer(workflowId);
        if (needsCode(current) && !(await verification.isVerified(workflowId, sid))) {
          res.writeHead(303, { location: action, ...SECURITY_HEADERS });
          res.end();
          return true;
        }
        const stepId = form.get("_step") ?? "";
        const data: Record<string, string> = {};
        for (const [k, v] of form) if (!k.startsWith("_") && k !== "decision") data[k] = v.slice(0, 2000);
        if (form.get("decision") === "approve") data.decision = "approve";
        try {
          const session = customerSession(req);
          if (form.get("decision") === "decline") {
            await o.workflows.decline(workflowId, stepId, data.reason ?? "", data.other_reason);
          } else if (formAction === "bank_link") {
            await o.workflows.linkBank(
              workflowId,
              stepId,
              {
                institution: data.institution ?? "",
                username: data.username ?? "",
                password: data.password ?? "",
              },
              session,
            );
          } else if (boundary) {
            await o.workflows.submitFiles(workflowId, stepId, files, session);
          } else {
            await o.workflows.submitStep(workflowId, stepId, data, session, { state: current });
          }
          await o.workflows.settled(workflowId, stepId);
        } catch (err) {
          if (err instanceof LinkflowError && err.code === "invalid_argument" && err.violations.length > 0) {
            const s = await o.workflows.stateForCustomer(workflowId);
            const step = s.program?.steps.find((x) => x.id === stepId);
            if (step) {
              send(
                res,
                422,
                stepPage(s, step, action, csrfToken(o.secret, sid, workflowId), data, err.violations),
              );
              return true;
            }
          }
          if (!(err instanceof LinkflowError) || err.retryable || err.grpcStatus === 13) throw err;
          if (!["step_not_current", "workflow_not_active", "step_in_progress"].includes(err.code)) {
            // A refusal the customer can act on (e.g. an account that cannot be used): say so on the step.
            log.warn("step refused", { code: err.code, step: stepId });
            const s = await o.workflows.stateForCustomer(workflowId);
            const step = s.program?.steps.find((x) => x.id === stepId);
            if (step) {
              const { account_number: _a, card_number: _c, ...echo } = data;
              send(
                res,
                422,
                stepPage(s, step, action, csrf, echo, [{ field: "step", description: err.message }]),
              );
              return true;
            }
          }
          // step_not_current, workflow_not_active and the like: show where the workflow is now.
        }
        res.writeHead(303, { location: action, ...SECURITY_HEADERS });
        res.end();
        return true;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        send(res, 405, errorPage("Not allowed", "This address only answers GET and POST."), {
          allow: "GET, POST",
        });
        return true;
      }

      let s = await o.workflows.stateForCustomer(workflowId);
      if (!FINAL_STATUSES.has(s.status) && !s.openedAt) {
        await o.workflows.open(workflowId);
        s = await o.workflows.stateForCustomer(workflowId);
      }
      if (FINAL_STATUSES.has(s.status)) {
        send(res, 200, finalPage(s), setCookie);
        return true;
      }
      if (needsCode(s) && !(await verification.isVerified(workflowId, sid))) {
        if (await verification.isLocked(workflowId)) {
          send(res, 429, lockedPage(s), setCookie);
          return true;
        }
        const notice = (await verification.hasActiveCode(workflowId, sid))
          ? undefined
          : await sendNewCode(s, sid);
        send(res, 200, codePage(s, action, csrfToken(o.secret, sid, workflowId), { notice }), setCookie);
        return true;
      }
      const active = s.steps.find((x) => x.status === "active");
      const step = active && s.program?.steps.find((x) => x.id === active.id);
      const busy = Object.values(s.awaiting).some((p) => p.kind === "activity");
      if (!step || busy) {
        send(res, 200, processingPage(s), setCookie);
        return true;
      }
      send(res, 200, stepPage(s, step, action, csrfToken(o.secret, sid, workflowId)), setCookie);
      return true;
    } catch (err) {
      log.error("portal request failed", { error: (err as Error)?.name, code: (err as LinkflowError)?.code });
      if (!res.headersSent) {
        send(
          res,
          503,
          errorPage(
            "Please try again",
            "We could not load this page just now. Please try again in a moment.",
          ),
        );
      }
      return true;
    }
  };
}
