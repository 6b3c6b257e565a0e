import { createHash, createHmac } from "node:crypto";

/**
 * The customer's link token: HMAC-SHA256(link secret, "<workflow id>:<link
 * version>"), 256 bits, URL-safe. Only its SHA-256 is stored; the server can
 * recompute the token (to resend or copy the link) and nobody with database
 * access alone can.
 */
export function linkToken(secret: string, workflowId: string, version: number): string {
  return createHmac("sha256", secret).update(`${workflowId}:${version}`).digest("base64url");
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function linkUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/l/${token}`;
}

/** A token is 43 base64url characters; anything else is rejected before a lookup. */
export function looksLikeToken(s: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(s);
}
