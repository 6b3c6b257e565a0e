export { esc, Html, html } from "../html/index.ts";

export const STYLESHEET = `
:root{--fg:#14213d;--muted:#4a5568;--bg:#f7f8fa;--card:#fff;--accent:#0b5fff;--err:#b00020;--ok:#0a7a3d}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:32rem;margin:0 auto;padding:1rem}
header{padding:1rem;background:var(--card);border-bottom:1px solid #dde1e7}header p{margin:0;color:var(--muted)}
h1{font-size:1.4rem;margin:.5rem 0 1rem}
.card{background:var(--card);border-radius:.75rem;padding:1rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input,select,textarea{width:100%;font:inherit;padding:.7rem;border:1px solid #8a94a6;border-radius:.5rem;min-height:44px}
input:focus,select:focus,textarea:focus,button:focus{outline:3px solid #7aa7ff;outline-offset:1px}
.hint{color:var(--muted);font-size:.9rem;margin:0}
.error{color:var(--err);font-size:.95rem;margin:.25rem 0 0}
[aria-invalid=true]{border-color:var(--err)}
.summary{border:2px solid var(--err);border-radius:.5rem;padding:.75rem;margin-bottom:1rem}
button{display:block;width:100%;margin-top:1.25rem;padding:.85rem;font:inherit;font-weight:700;color:#fff;background:var(--accent);border:0;border-radius:.5rem;min-height:48px}
button.secondary{background:#fff;color:var(--accent);border:2px solid var(--accent)}
.progress{color:var(--muted);font-size:.95rem}
.done{color:var(--ok)}
fieldset{border:0;padding:0;margin:1rem 0 0}legend{font-weight:700;margin-bottom:.25rem}
.choice{display:flex;gap:.6rem;align-items:center;font-weight:400;min-height:44px}.choice input{width:auto;min-height:auto}
.decline{margin-top:1.25rem}.amount{font-size:1.3rem}.doc h2{font-size:1.1rem;margin:.5rem 0}
`;
