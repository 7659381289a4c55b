import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Compiled weights and ONNX models are built once per run, before any file starts (files then only read them).
    globalSetup: ['test/global-setup.ts'],
    // Two files at a time, each in its own process: on 2 cores most files wait on processes, sockets and timers
    // as much as they compute. No test may depend on the machine's speed, so sharing the cores is safe.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    // Files that follow each other in a worker share its loaded modules (tfjs, discord.js, ONNX Runtime, the model
    // cache in memory): each file still starts its own bots, fakes and servers and stops them. Importing them
    // afresh for every file cost a minute of CPU a run.
    isolate: false,
    // Two files share two cores: one ONNX Runtime thread per dream (its threads spin while they wait), also in the
    // bots, workers and CLIs that tests start.
    env: { DREAM_THREADS: '1' },
    // Ceilings against hangs, never the expected path: a test waits for events, not for time.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
