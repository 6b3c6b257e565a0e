/** Server-rendered HTML for the gateway's pages: escaping by construction. */
/** Escapes text for HTML element content and attribute values. */
export function esc(s: unknown): string {
  return String(s ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Markup that is already safe (built with `html`). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Tagged template that escapes every interpolation unless it is already `Html`; arrays are joined. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    out += part(v) + (strings[i + 1] ?? "");
  });
  return new Html(out);
}

function part(v: unknown): string {
  if (Array.isArray(v)) return v.map(part).join("");
  if (v instanceof Html) return v.value;
  if (v === undefined || v === null || v === false) return "";
  return esc(v);
}
