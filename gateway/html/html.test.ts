import { describe, expect, it } from "vitest";
import { esc, Html, html } from "./index.ts";

describe("HTML escaping", () => {
  it("escapes the five characters that can break out of text or a quoted attribute", () => {
    expect(esc(`<a href="x" title='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
    expect(esc(undefined)).toBe("");
    expect(esc(null)).toBe("");
    expect(esc(42)).toBe("42");
  });

  it("escapes every interpolation, in text and in attributes, unless it is already Html", () => {
    const evil = `"><script>alert(1)</script>`;
    const out = html`<p title="${evil}">${evil}</p>`.value;
    expect(out).not.toContain("<script>");
    expect(out).toBe(
      '<p title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>',
    );
    expect(html`<div>${html`<b>${evil}</b>`}</div>`.value).toBe(
      "<div><b>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</b></div>",
    );
  });

  it("joins arrays (escaping each item), and drops undefined, null and false but keeps 0", () => {
    expect(html`<ul>${["<x>", html`<li>y</li>`]}</ul>`.value).toBe("<ul>&lt;x&gt;<li>y</li></ul>");
    expect(html`[${undefined}${null}${false}${0}]`.value).toBe("[0]");
    expect(String(new Html("<i>ok</i>"))).toBe("<i>ok</i>");
  });
});
