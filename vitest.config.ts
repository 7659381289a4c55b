import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Model tests decode ~30 MB of weights and run real gradient steps on the wasm backend.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One fork at a time: each loads the model; two cores are shared with the wasm compute.
    pool: 'forks',
    fileParallelism: false,
  },
});
