import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // Tests that run README code import "ebb" as a user would; it is this package's source.
  resolve: { alias: { ebb: fileURLToPath(new URL("./src/index.ts", import.meta.url)) } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Subprocess e2e tests share a machine with 2 cores; keep file parallelism modest.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
