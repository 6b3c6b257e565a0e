import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { credentials, loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import protobuf from "protobufjs";
import descriptor from "protobufjs/ext/descriptor/index.js";
import { describe, expect, it } from "vitest";
import {
  BusinessServiceService,
  CustomerServiceService,
  FinancialAccountServiceService,
  TemplateServiceService,
  TransactionServiceService,
  WebhookServiceService,
  WorkflowServiceService,
} from "../../proto/index.ts";
import { useApiStack } from "./harness.ts";

const api = useApiStack();

/** The public services as the generated clients know them: full name → method names. */
const PUBLIC: Record<string, Record<string, { path: string }>> = {
  "linkflow.v1.WorkflowService": WorkflowServiceService,
  "linkflow.v1.TemplateService": TemplateServiceService,
  "linkflow.v1.BusinessService": BusinessServiceService,
  "linkflow.v1.WebhookService": WebhookServiceService,
  "linkflow.v1.CustomerService": CustomerServiceService,
  "linkflow.v1.FinancialAccountService": FinancialAccountServiceService,
  "linkflow.v1.TransactionService": TransactionServiceService,
};

interface ReflectionAnswer {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

/**
 * A server reflection client as grpcurl drives it: one stream, one question
 * at a time (list the services, then the files that define a symbol and,
 * file by file, what they import).
 */
function reflectionClient(version: "v1" | "v1alpha") {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto");
  const def = loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [root],
    keepCase: true,
  });
  // biome-ignore lint/suspicious/noExplicitAny: a client loaded at run time
  const pkg = loadPackageDefinition(def) as any;
  const client = new pkg.grpc.reflection[version].ServerReflection(api.address, credentials.createInsecure());
  const stream = client.ServerReflectionInfo();
  const waiting: Array<(a: ReflectionAnswer) => void> = [];
  stream.on("data", (a: ReflectionAnswer) => waiting.shift()?.(a));
  const ask = (q: Record<string, string>) =>
    new Promise<ReflectionAnswer>((resolve, reject) => {
      waiting.push(resolve);
      stream.once("error", reject);
      stream.write(q);
    });
  return {
    ask,
    close() {
      stream.end();
      client.close();
    },
  };
}

describe("server reflection, as grpcurl uses it", () => {
  for (const version of ["v1", "v1alpha"] as const) {
    it(`${version}: lists exactly the public services and health, and describes each one's methods from files whose imports all resolve`, async () => {
      const r = reflectionClient(version);
      try {
        const listed = (await r.ask({ list_services: "" })).list_services_response!.service.map(
          (s) => s.name,
        );
        expect(listed.sort()).toEqual([...Object.keys(PUBLIC), "grpc.health.v1.Health"].sort());

        // Fetch the files defining every listed service, then every file they import, by name.
        const files = new Map<string, protobuf.Message>();
        const add = (a: ReflectionAnswer) => {
          expect(a.error_response).toBeUndefined();
          for (const b of a.file_descriptor_response!.file_descriptor_proto) {
            const f = descriptor.FileDescriptorProto.decode(b) as protobuf.Message & { name: string };
            files.set(f.name, f);
          }
        };
        for (const name of listed) add(await r.ask({ file_containing_symbol: name }));
        for (let missing = true; missing; ) {
          missing = false;
          for (const f of [...files.values()] as Array<{ dependency?: string[] }>) {
            for (const dep of f.dependency ?? []) {
              if (files.has(dep)) continue;
              missing = true;
              add(await r.ask({ file_by_filename: dep }));
              expect(files.has(dep), `${dep} is served`).toBe(true);
            }
          }
        }
        // An unknown symbol is an error answer, not a broken stream.
        expect(
          (await r.ask({ file_containing_symbol: "linkflow.v1.NoSuchService" })).error_response,
        ).toBeDefined();

        // The descriptors alone build every service with the methods the generated clients call.
        const root = (
          protobuf.Root as unknown as { fromDescriptor(d: unknown): protobuf.Root }
        ).fromDescriptor({ file: [...files.values()] });
        for (const [name, service] of Object.entries(PUBLIC)) {
          const described = root.lookupService(name);
          const paths = described.methodsArray.map((m) => `/${name}/${m.name}`).sort();
          expect(paths, name).toEqual(
            Object.values(service)
              .map((m) => m.path)
              .sort(),
          );
          // Request and response types resolve, so grpcurl can encode a call from JSON.
          for (const m of described.methodsArray) {
            m.resolve();
            expect(m.resolvedRequestType, `${name}.${m.name}`).toBeTruthy();
            expect(m.resolvedResponseType, `${name}.${m.name}`).toBeTruthy();
          }
        }
        expect(root.lookupService("grpc.health.v1.Health").methods.Check).toBeDefined();
      } finally {
        r.close();
      }
    });
  }
});
