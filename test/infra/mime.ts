/**
 * A small MIME parser for the test SMTP server: headers (unfolded, RFC 2047
 * encoded-words decoded), nested multipart, quoted-printable and base64
 * bodies, charsets via TextDecoder. Good enough for what nodemailer sends.
 */

export interface ParsedMime {
  headers: Record<string, string>;
  subject: string;
  text: string;
  html: string;
}

interface Part {
  headers: Record<string, string>;
  /** Body as a latin1 "binary" string (one char per byte). */
  body: string;
}

function splitHead(raw: string): Part {
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : "";
  const headers: Record<string, string> = {};
  const lines = head.split(/\r?\n/);
  const unfolded: string[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && unfolded.length > 0) unfolded[unfolded.length - 1] += ` ${line.trim()}`;
    else unfolded.push(line);
  }
  for (const line of unfolded) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { headers, body };
}

function decodeBytes(bytes: Buffer, charset: string | undefined): string {
  try {
    return new TextDecoder(charset || "utf-8").decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes);
  }
}

export function decodeQuotedPrintable(input: string): Buffer {
  const s = input.replace(/=\r?\n/g, "");
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(c.charCodeAt(0) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** Decodes RFC 2047 encoded-words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`) in a header value. */
export function decodeHeaderValue(value: string): string {
  // Header bytes outside encoded-words are UTF-8 (SMTPUTF8) in practice.
  const utf8 = decodeBytes(Buffer.from(value, "latin1"), "utf-8");
  const joined = utf8.replace(/(\?=)\s+(=\?)/g, "$1$2");
  return joined.replace(
    /=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g,
    (_m, charset: string, enc: string, text: string) => {
      const cs = charset.split("*")[0];
      const bytes =
        enc.toUpperCase() === "B"
          ? Buffer.from(text, "base64")
          : decodeQuotedPrintable(text.replace(/_/g, " "));
      return decodeBytes(bytes, cs);
    },
  );
}

function params(value: string): { type: string; params: Record<string, string> } {
  const [type = "", ...rest] = value.split(";");
  const out: Record<string, string> = {};
  for (const p of rest) {
    const i = p.indexOf("=");
    if (i < 0) continue;
    const k = p.slice(0, i).trim().toLowerCase();
    let v = p.slice(i + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out[k] = v;
  }
  return { type: type.trim().toLowerCase(), params: out };
}

function decodeBody(part: Part): string {
  const cte = (part.headers["content-transfer-encoding"] ?? "7bit").trim().toLowerCase();
  const ct = params(part.headers["content-type"] ?? "text/plain; charset=us-ascii");
  let bytes: Buffer;
  if (cte === "quoted-printable") bytes = decodeQuotedPrintable(part.body);
  else if (cte === "base64") bytes = Buffer.from(part.body.replace(/\s+/g, ""), "base64");
  else bytes = Buffer.from(part.body, "latin1");
  const charset = ct.params.charset?.toLowerCase();
  return decodeBytes(bytes, charset === "us-ascii" ? "utf-8" : charset).replace(/\r\n/g, "\n");
}

function walk(part: Part, acc: { text?: string; html?: string }): void {
  const ct = params(part.headers["content-type"] ?? "text/plain");
  const disposition = (part.headers["content-disposition"] ?? "").toLowerCase();
  if (ct.type.startsWith("multipart/") && ct.params.boundary) {
    const delim = `--${ct.params.boundary}`;
    const chunks = part.body.split(new RegExp(`\\r?\\n?${escapeRe(delim)}`));
    // chunks[0] is the preamble; the chunk starting with "--" is the epilogue.
    for (const chunk of chunks.slice(1)) {
      if (chunk.startsWith("--")) break;
      walk(splitHead(chunk.replace(/^[ \t]*\r?\n/, "")), acc);
    }
    return;
  }
  if (disposition.startsWith("attachment")) return;
  if (ct.type === "text/plain" && acc.text === undefined) acc.text = decodeBody(part);
  else if (ct.type === "text/html" && acc.html === undefined) acc.html = decodeBody(part);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Parses a raw RFC 5322 message (as received over SMTP). Text/HTML line endings are normalised to "\n". */
export function parseMime(raw: Buffer | string): ParsedMime {
  const bin = typeof raw === "string" ? Buffer.from(raw, "utf8").toString("latin1") : raw.toString("latin1");
  const root = splitHead(bin);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(root.headers)) headers[k] = decodeHeaderValue(v);
  const acc: { text?: string; html?: string } = {};
  walk(root, acc);
  return { headers, subject: headers.subject ?? "", text: acc.text ?? "", html: acc.html ?? "" };
}
