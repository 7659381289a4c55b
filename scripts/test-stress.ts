// `npm run test:stress [-- vitest args]`: the test suite while another process keeps one core busy, as on a slower
// or shared machine (CI may be one). A test that depends on the machine's speed fails here first.
import { spawn } from 'node:child_process';

const BURN_LIMIT_MS = 60 * 60_000; // the burner stops by itself even if this script is killed

const burner = spawn(process.execPath, ['-e', `const end = Date.now() + ${BURN_LIMIT_MS}; while (Date.now() < end) {}`], { stdio: 'ignore' });
const tests = spawn('npm', ['test', '--', ...process.argv.slice(2)], { stdio: 'inherit' });
const stop = () => burner.kill('SIGKILL');
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => (tests.kill(signal), stop()));
tests.on('exit', (code, signal) => {
  stop();
  console.log(`test:stress: the suite ${code === 0 ? 'passed' : `failed (${signal ?? `exit ${code}`})`} with one core kept busy`);
  process.exit(code ?? 1);
});
