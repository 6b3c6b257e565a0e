import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Server } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";

const PROTO_ROOT = fileURLToPath(new URL("../../proto/", import.meta.url));

/**
 * Adds gRPC server reflection (v1 and v1alpha) describing the public services
 * from their .proto sources, so grpcurl and similar tools work without local
 * copies. Internal services are not listed.
 */
export function addReflection(server: Server, services: string[]): void {
  const require = createRequire(import.meta.url);
  const healthRoot = join(dirname(require.resolve("grpc-health-check/package.json")), "proto");
  const files = services
    .filter((s) => s.startsWith("linkflow.v1."))
    .map((s) => `linkflow/v1/${snake(s.slice("linkflow.v1.".length))}.proto`);
  const pkg = loadSync([...new Set(files), "health/v1/health.proto"], {
    includeDirs: [PROTO_ROOT, healthRoot],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  new ReflectionService(pkg, { services: [...services, "grpc.health.v1.Health"] }).addToServer(server);
}

/** `TemplateService` → `template_service`. */
function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}
