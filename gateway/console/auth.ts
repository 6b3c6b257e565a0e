import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from "node:crypto";
import type { IncomingMessage } from "node:http";

/** Console roles, weakest first. */
export type Role = "viewer" | "operator" | "admin";
export const ROLES: Role[] = ["viewer", "operator", "admin"];

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 };

function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password.normalize("NFKC"),
      salt,
      SCRYPT.keylen,
      { N: n, r, p, maxmem: SCRYPT.maxmem },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

/** `scrypt$N$r$p$<salt>$<hash>` (base64url), 16-byte random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

/** A hash of a random password: verifying against it costs the same as a real one (no user enumeration by timing). */
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
  const parts = (stored ?? (await dummyHash)).split("$");
  const [alg, n, r, p, salt, hash] = parts;
  if (alg !== "scrypt" || !n || !r || !p || !salt || !hash) return false;
  const want = Buffer.from(hash, "base64url");
  const got = await scryptAsync(password, Buffer.from(salt, "base64url"), Number(n), Number(r), Number(p));
  return stored !== undefined && want.length === got.length && timingSafeEqual(want, got);
}

/** Minimum password policy for console users. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 12) return "use at least 12 characters";
  if (password.length > 512) return "use at most 512 characters";
  return undefined;
}

export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

export function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** Keys derived from the console secret: one for CSRF tokens, one for the stored API keys. */
export class ConsoleKeys {
  readonly #mac: Buffer;
  readonly #enc: Buffer;
  constructor(secret: string) {
    if (secret.length < 16) throw new Error("the console secret must be at least 16 characters");
    const ikm = Buffer.from(secret, "utf8");
    this.#mac = Buffer.from(hkdfSync("sha256", ikm, "linkflow-console", "csrf", 32));
    this.#enc = Buffer.from(hkdfSync("sha256", ikm, "linkflow-console", "api-key-encryption", 32));
  }

  /** Synchronizer token bound to a session (or pre-sign-in) token and a purpose; stateless HMAC. */
  csrf(sessionToken: string, purpose = "session"): string {
    return createHmac("sha256", this.#mac).update(`${purpose}:${sessionToken}`).digest("base64url");
  }

  csrfValid(sessionToken: string | undefined, token: unknown, purpose = "session"): boolean {
    if (!sessionToken || typeof token !== "string") return false;
    const want = Buffer.from(this.csrf(sessionToken, purpose));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  /** AES-256-GCM; `v1.<iv>.<tag>.<ciphertext>`, the business id as associated data. */
  encrypt(plain: string, aad: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.#enc, iv);
    c.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([c.update(plain, "utf8"), c.final()]);
    return ["v1", iv, c.getAuthTag(), ct]
      .map((x) => (typeof x === "string" ? x : x.toString("base64url")))
      .join(".");
  }

  decrypt(box: string, aad: string): string {
    const [v, iv, tag, ct] = box.split(".");
    if (v !== "v1" || !iv || !tag || !ct) throw new Error("unknown key ciphertext format");
    const d = createDecipheriv("aes-256-gcm", this.#enc, Buffer.from(iv, "base64url"));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([d.update(Buffer.from(ct, "base64url")), d.final()]).toString("utf8");
  }
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) {
      try {
        return decodeURIComponent(v.join("="));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function cookie(name: string, value: string, opts: { secure: boolean; maxAgeS: number }): string {
  return `${name}=${value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${opts.maxAgeS}${opts.secure ? "; Secure" : ""}`;
}
