// `npm run worker` with the fake runner in place of the engine (fast dreams, no model): for tests that need a worker
// process (its logs, its death) but not real dreams. Reads the same environment as src/bin/worker.ts.
import { startWorker } from '../../src/bin/compose.ts';
import { botConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { FakeRunner } from './fake-runner.ts';

const config = botConfig(process.env, 'worker');
const log = createLogger(config.logLevel, [config.token]).child({ worker: process.pid });
const worker = await startWorker(config, log, { runner: new FakeRunner() });
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
