export { esc, Html, html } from "../html/index.ts";

export const STYLESHEET = `
:root{--fg:#14213d;--muted:#4a5568;--bg:#f5f6f8;--card:#fff;--line:#d5dae1;--accent:#0b5fff;--err:#b00020;--ok:#0a7a3d;--warn:#8a5a00}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:10}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;background:#14213d;color:#fff}
header.top a{color:#fff;text-decoration:none;padding:.35rem .5rem;border-radius:.35rem}
header.top a[aria-current=page]{background:rgba(255,255,255,.18)}
header.top .brand{font-weight:700;margin-right:.5rem}
header.top nav{display:flex;flex-wrap:wrap;gap:.25rem}
header.top .who{margin-left:auto;display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;font-size:.9rem}
header.top form{display:flex;gap:.35rem;align-items:center;margin:0}
header.top select,header.top button{min-height:32px;padding:.2rem .5rem;width:auto;margin:0;font-size:.9rem}
header.top select{color:var(--fg);background:#fff}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.25rem 0 1rem}h2{font-size:1.1rem;margin:1.25rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:1rem;margin-bottom:1rem}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr))}
label{display:block;font-weight:600;margin:.6rem 0 .2rem}
input,select,textarea{width:100%;font:inherit;padding:.5rem;border:1px solid #8a94a6;border-radius:.4rem;min-height:40px;background:#fff;color:inherit}
textarea{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9rem;min-height:24rem}
input:focus,select:focus,textarea:focus,button:focus,a:focus{outline:3px solid #7aa7ff;outline-offset:1px}
button{font:inherit;font-weight:600;color:#fff;background:var(--accent);border:0;border-radius:.4rem;min-height:40px;padding:.45rem 1rem;margin-top:.75rem;cursor:pointer}
button.secondary{background:#fff;color:var(--accent);border:2px solid var(--accent)}
button.danger{background:var(--err)}
.inline{display:inline-flex;gap:.5rem;align-items:flex-end;flex-wrap:wrap;margin:0 .5rem .5rem 0}
.inline label{margin:0}
.filters{display:grid;gap:.5rem;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));align-items:end}
.filters button{margin:0}
.choice{display:flex;gap:.5rem;align-items:center;font-weight:400}.choice input{width:auto;min-height:auto}
.hint{color:var(--muted);font-size:.88rem;margin:.15rem 0 0}
.error{color:var(--err);margin:.2rem 0 0}
[aria-invalid=true]{border-color:var(--err)}
.flash{border-left:4px solid var(--ok);background:#eefaf2;padding:.6rem .8rem;margin-bottom:1rem;border-radius:.3rem}
.flash.bad{border-color:var(--err);background:#fdeef0}
.secret{font-family:ui-monospace,monospace;word-break:break-all;background:#fffbe6;border:1px dashed var(--warn);padding:.5rem;border-radius:.3rem}
table{width:100%;border-collapse:collapse;background:var(--card)}
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.85rem;color:var(--muted);font-weight:600}
.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.88rem}
pre{white-space:pre-wrap;background:#0f172a;color:#e2e8f0;padding:.75rem;border-radius:.4rem;overflow:auto;margin:0}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.82rem;font-weight:600;background:#e8ecf3}
.badge.completed,.badge.active{background:#dff5e7;color:var(--ok)}
.badge.declined,.badge.failed,.badge.cancelled,.badge.expired,.badge.suspended,.badge.revoked{background:#fde3e6;color:var(--err)}
.badge.link_sent,.badge.opened,.badge.in_progress{background:#e3ecff;color:#0a3fb0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
ol.timeline{list-style:none;padding:0;margin:0}ol.timeline li{border-left:3px solid var(--line);padding:.25rem 0 .5rem .75rem}
ol.timeline li.notification{border-color:#7aa7ff}ol.timeline li.transaction{border-color:var(--ok)}
.toasts{position:fixed;right:1rem;bottom:1rem;display:flex;flex-direction:column;gap:.5rem;z-index:20;max-width:22rem}
.toast{background:#14213d;color:#fff;padding:.6rem .8rem;border-radius:.4rem;box-shadow:0 2px 8px rgba(0,0,0,.25)}
.toast a{color:#fff}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.pager{display:flex;gap:1rem;margin-top:.75rem}
.diag-ok{color:var(--ok)}
@media (max-width:40rem){
  main{padding:.6rem}
  table.responsive thead{display:none}
  table.responsive tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
  table.responsive td{display:block;border:0;padding:.1rem .5rem}
  table.responsive td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:.82rem}
  header.top .who{margin-left:0}
}
`;
