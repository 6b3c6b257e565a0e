import type { Server } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "../../core/index.ts";
import type { AccountsServiceClient } from "../../proto/index.ts";
import { type NotificationsServiceClient, WorkflowServiceService } from "../../proto/index.ts";
import type { Workflows } from "../../services/workflows/index.ts";
import { ApiKeyAuthenticator } from "./auth.ts";
import { workflowServiceImpl } from "./workflow-service.ts";

export interface ApiDeps {
  workflows: Workflows;
  accounts: AccountsServiceClient;
  notifications: NotificationsServiceClient;
  log?: Logger;
}

/** The health service of the public API; set NOT_SERVING while draining. */
export interface ApiHealth {
  setServing(serving: boolean): void;
}

/**
 * Adds the public API (linkflow.v1.WorkflowService) and grpc.health.v1 to a
 * gRPC server. Returns the health handle so shutdown can flip it first.
 */
export function addPublicApi(server: Server, deps: ApiDeps): ApiHealth {
  const auth = new ApiKeyAuthenticator(deps.accounts);
  server.addService(
    WorkflowServiceService,
    workflowServiceImpl({
      workflows: deps.workflows,
      auth,
      notifications: deps.notifications,
      log: deps.log,
    }),
  );
  const health = new HealthImplementation({ "": "SERVING", "linkflow.v1.WorkflowService": "SERVING" });
  health.addToServer(server);
  return {
    setServing(serving) {
      const s = serving ? "SERVING" : "NOT_SERVING";
      health.setStatus("", s);
      health.setStatus("linkflow.v1.WorkflowService", s);
    },
  };
}
