import { newId } from "../../core/index.ts";
import { hashPassword, passwordProblem, ROLES, type Role } from "./auth.ts";
import { type Ctx, csrfField, errorBox, flash, fmtTime, type Result } from "./context.ts";
import { type Html, html } from "./html.ts";

/** /console/users — the console users of the signed-in user's business; admins add users. */
export async function users(ctx: Ctx, method: string, path: string): Promise<Result | undefined> {
  if (path !== "/console/users") return undefined;
  const errors: Record<string, string> = {};
  let email = "";
  let role = "viewer";
  let notice: Html | undefined;
  if (method === "POST") {
    email = (ctx.form.get("email") ?? "").trim().toLowerCase().slice(0, 254);
    role = ctx.form.get("role") ?? "";
    const password = ctx.form.get("password") ?? "";
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) errors.email = "Enter an email address.";
    if (!ROLES.includes(role as Role)) errors.role = "Pick a role.";
    const problem = passwordProblem(password);
    if (problem) errors.password = `Password: ${problem}.`;
    if (Object.keys(errors).length === 0) {
      const [taken] = await ctx.sql`select 1 from console.users where lower(email) = ${email}`;
      if (taken) errors.email = "A console user with this email already exists.";
    }
    if (Object.keys(errors).length === 0) {
      const id = newId("usr");
      await ctx.sql`
        insert into console.users (id, business_id, email, password_hash, role)
        values (${id}, ${ctx.user.businessId}, ${email}, ${await hashPassword(password)}, ${role})`;
      await ctx.audit("user.create", email, "ok", { role });
      return { redirect: "/console/users?ok=user_created" };
    }
    await ctx.audit("user.create", email, "failed", { fields: Object.keys(errors) });
    notice = errorBox("Please correct the fields below.");
  }
  const rows = await ctx.sql<{ email: string; role: Role; created_at: Date; disabled_at: Date | null }[]>`
    select email, role, created_at, disabled_at from console.users
    where business_id = ${ctx.user.businessId} order by lower(email)`;
  const admin = ctx.user.role === "admin";
  const field = (name: string, label: string, control: Html) =>
    html`<label for="user-${name}">${label}</label>${control}${errors[name] ? html`<p class="error" id="user-${name}-err">${errors[name]}</p>` : ""}`;
  const invalid = (name: string) =>
    errors[name] ? html` aria-invalid="true" aria-describedby="user-${name}-err"` : "";
  const body = html`<h1>Users</h1>${flash(ctx)}${notice ?? ""}
<table class="responsive"><thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Added</th><th scope="col">Status</th></tr></thead>
<tbody>${rows.map(
    (r) =>
      html`<tr><td data-label="Email">${r.email}</td><td data-label="Role">${r.role}</td><td data-label="Added">${fmtTime(r.created_at)}</td><td data-label="Status">${r.disabled_at ? html`<span class="badge revoked">disabled</span>` : html`<span class="badge active">active</span>`}</td></tr>`,
  )}</tbody></table>
${
  admin
    ? html`<form method="post" action="/console/users" class="card" novalidate><h2>Add a user</h2>${csrfField(ctx)}
${field("email", "Email", html`<input id="user-email" name="email" type="email" required value="${email}"${invalid("email")}>`)}
${field(
  "role",
  "Role",
  html`<select id="user-role" name="role"${invalid("role")}>${ROLES.map((r) => html`<option${r === role ? " selected" : ""}>${r}</option>`)}</select>`,
)}
${field("password", "Initial password (12 characters or more)", html`<input id="user-password" name="password" type="password" autocomplete="new-password" required${invalid("password")}>`)}
<button type="submit">Add user</button></form>`
    : html`<p class="hint">Only admins can add users.</p>`
}`;
  return { title: "Users", nav: "users", body, status: notice ? 422 : 200 };
}
