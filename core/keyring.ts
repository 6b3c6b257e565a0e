import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";

/**
 * The keys that encrypt account and card numbers and other secrets at rest (AES-256-GCM).
 * New ciphertexts use `currentKeyId`; older ids stay in `keys` until every
 * row written with them has been re-encrypted, so keys can rotate.
 */
export interface Keyring {
  currentKeyId: string;
  /** Key id → 32-byte key (raw bytes, or base64/base64url of 32 bytes). */
  keys: Record<string, Uint8Array | string>;
}

export interface SealedNumber {
  keyId: string;
  /** 12-byte IV ‖ 16-byte tag ‖ ciphertext. */
  ciphertext: Buffer;
}

function keyBytes(keyring: Keyring, id: string): Buffer {
  const raw = keyring.keys[id];
  if (raw === undefined) throw new Error(`encryption key ${id} is not in the keyring`);
  const key = typeof raw === "string" ? Buffer.from(raw, "base64") : Buffer.from(raw);
  if (key.length !== 32) throw new Error(`encryption key ${id} must be 32 bytes`);
  return key;
}

/** The ids of the keyring's keys other than the current one (older keys kept until a rotation completes). */
export function olderKeyIds(keyring: Keyring): string[] {
  return Object.keys(keyring.keys).filter((id) => id !== keyring.currentKeyId);
}

/** Throws unless the current key exists and every key is 32 bytes. */
export function checkKeyring(keyring: Keyring): void {
  if (!keyring.keys[keyring.currentKeyId]) throw new Error("keyring.currentKeyId is not in keyring.keys");
  for (const id of Object.keys(keyring.keys)) keyBytes(keyring, id);
}

/** Encrypts with the current key; `aad` (the row id) binds the ciphertext to its row. */
export function sealNumber(keyring: Keyring, plaintext: string, aad: string): SealedNumber {
  const keyId = keyring.currentKeyId;
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyBytes(keyring, keyId), iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return { keyId, ciphertext: Buffer.concat([iv, cipher.getAuthTag(), ct]) };
}

/** Decrypts with the key the ciphertext names; throws if it was tampered with. */
export function openNumber(keyring: Keyring, sealed: SealedNumber, aad: string): string {
  const iv = sealed.ciphertext.subarray(0, 12);
  const tag = sealed.ciphertext.subarray(12, 28);
  const decipher = createDecipheriv("aes-256-gcm", keyBytes(keyring, sealed.keyId), iv);
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.ciphertext.subarray(28)), decipher.final()]).toString("utf8");
}

/**
 * A keyed fingerprint of a number (HMAC-SHA256 under the current key, or
 * under `keyId`), used in place of the number wherever a request must be
 * compared (idempotency).
 */
export function numberFingerprint(keyring: Keyring, number: string, keyId = keyring.currentKeyId): string {
  return createHmac("sha256", keyBytes(keyring, keyId)).update(`fingerprint:${number}`).digest("hex");
}

/**
 * The keyring from the environment: `LINKFLOW_ENCRYPTION_KEYS` is a comma
 * list of `<id>:<base64 32 bytes>`, `LINKFLOW_ENCRYPTION_KEY_ID` the current
 * id (default: the last listed). Undefined when no keys are configured.
 */
export function keyringFromEnv(env: Record<string, string | undefined> = process.env): Keyring | undefined {
  const raw = env.LINKFLOW_ENCRYPTION_KEYS?.trim();
  if (!raw) return undefined;
  const keys: Record<string, string> = {};
  let last = "";
  for (const part of raw.split(",")) {
    const i = part.indexOf(":");
    if (i <= 0) throw new Error("LINKFLOW_ENCRYPTION_KEYS must be <id>:<base64 key>,...");
    last = part.slice(0, i).trim();
    keys[last] = part.slice(i + 1).trim();
  }
  const keyring = { currentKeyId: env.LINKFLOW_ENCRYPTION_KEY_ID?.trim() || last, keys };
  checkKeyring(keyring);
  return keyring;
}

const SEALED = /^sealed:([^:]+):([A-Za-z0-9+/=]+)$/;

/**
 * A secret sealed under the current key as one text value,
 * `sealed:<key id>:<base64>`, for columns and replay records that must never
 * hold the secret itself. `aad` binds it to its owner (e.g. a row id).
 */
export function sealText(keyring: Keyring, plaintext: string, aad: string): string {
  const sealed = sealNumber(keyring, plaintext, aad);
  return `sealed:${sealed.keyId}:${sealed.ciphertext.toString("base64")}`;
}

/** True when `value` was made by {@link sealText}. */
export function isSealedText(value: string): boolean {
  return SEALED.test(value);
}

/** Opens a value made by {@link sealText}; throws if it was tampered with or its key is gone. */
export function openText(keyring: Keyring, value: string, aad: string): string {
  const [, keyId = "", ct = ""] = SEALED.exec(value) ?? [];
  if (!keyId) throw new Error("not a sealed value");
  return openNumber(keyring, { keyId, ciphertext: Buffer.from(ct, "base64") }, aad);
}
