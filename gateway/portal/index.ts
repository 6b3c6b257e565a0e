/** The customer's hosted page for a workflow link: server-rendered, no JavaScript needed. */
export type { PortalOptions } from "./server.ts";
export { createPortal } from "./server.ts";
