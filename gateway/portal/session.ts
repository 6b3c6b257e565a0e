import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const SESSION_COOKIE = "lf_sid";

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie ?? "";
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

export function newSessionId(): string {
  return randomBytes(18).toString("base64url");
}

export function sessionCookie(sid: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${sid}; Path=/l/; HttpOnly; SameSite=Lax; Max-Age=86400${secure ? "; Secure" : ""}`;
}

/** CSRF token bound to the session and the workflow (synchronizer token, stateless: an HMAC). */
export function csrfToken(secret: string, sid: string, workflowId: string): string {
  return createHmac("sha256", secret).update(`csrf:${sid}:${workflowId}`).digest("base64url");
}

export function csrfValid(
  secret: string,
  sid: string | undefined,
  workflowId: string,
  token: unknown,
): boolean {
  if (!sid || typeof token !== "string") return false;
  const want = Buffer.from(csrfToken(secret, sid, workflowId));
  const got = Buffer.from(token);
  return want.length === got.length && timingSafeEqual(want, got);
}
