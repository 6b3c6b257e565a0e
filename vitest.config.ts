import { defineConfig } from "vitest/config";

// Two projects: fast pure unit tests (`*.test.ts` next to the code) and the
// integration suites under test/ that start real servers. Integration files run
// one or two at a time because this machine has two cores.
export default defineConfig({
  test: {
    globalSetup: ["test/infra/global-setup.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: [
            "core/**/*.test.ts",
            "dsl/**/*.test.ts",
            "runtime/**/*.test.ts",
            "services/**/*.test.ts",
            "gateway/**/*.test.ts",
          ],
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
