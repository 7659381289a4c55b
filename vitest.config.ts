import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Compiled weights and ONNX models are built once per run, before any file starts (files then only read them).
    globalSetup: ['test/global-setup.ts'],
    // Three files at a time, each worker a process of its own. On 2 cores this measured 94 s against 112 s with two
    // workers and 104 s with four: a third file computes while the Redis, process and gateway tests wait on what
    // their processes report. No test may depend on the machine's speed, so sharing the cores is safe.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 3,
    // Files that follow each other in a worker share its loaded modules (tfjs, discord.js, ONNX Runtime, the model
    // cache in memory): each file still starts its own bots, fakes and servers and stops them. Importing them
    // afresh for every file cost a minute of CPU a run.
    isolate: false,
    // Transformed modules are kept on disk (node_modules/.experimental-vitest-cache, keyed by each file's content):
    // a run then transforms only what changed, ~2 s of CPU less per run.
    experimental: { fsModuleCache: true },
    // Files share the cores: one ONNX Runtime thread per dream (its threads spin while they wait), also in the bots,
    // workers and CLIs that tests start. Each bot or worker process a test starts keeps its settings and history in a
    // database of its own, gone with it (never the checkout's data/deepdream.sqlite); a test that shares one sets it.
    env: { DREAM_THREADS: '1', DATABASE_URL: 'sqlite::memory:' },
    // Ceilings against hangs, never the expected path: a test waits for events, not for time.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
