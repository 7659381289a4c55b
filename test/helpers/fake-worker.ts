// `npm run worker` with the fake runner in place of the engine (fast dreams, no model): for tests that need a worker
// process (its logs, its death) but not real dreams. Reads the same environment as src/bin/worker.ts.
//
// With FAKE_WORKER_GATE=1 every dream stops after its first step (its member has seen it start) until the test lets
// it go, by lines on this process's stdin: `release` lets one dream through (one waiting now, else the next to come),
// `open` lets every dream through from then on, `hold` holds them again (and logs "gate closed"). Each dream that
// stops logs "dream held". Cancels still end a held dream. So a test decides when a dream ends, instead of hoping it
// is slow enough.
import { createInterface } from 'node:readline';
import { startWorker } from '../../src/bin/compose.ts';
import { botConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { FakeRunner, Gate } from './fake-runner.ts';

const config = botConfig(process.env, 'worker');
const log = createLogger(config.logLevel, [config.token]).child({ worker: process.pid });
const runner = new FakeRunner();
if (process.env.FAKE_WORKER_GATE === '1') {
  const gate = new Gate();
  gate.onHeld = () => log.info({ held: gate.held }, 'dream held');
  runner.gate = gate;
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'release') gate.release();
    else if (line.trim() === 'open') gate.open();
    else if (line.trim() === 'hold') {
      gate.close();
      log.info('gate closed');
    }
  });
}
const worker = await startWorker(config, log, { runner });
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
