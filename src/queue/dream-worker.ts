// Worker-thread entry: loads the model once, then dreams one job at a time for DreamWorkerPool.
import { parentPort, workerData } from 'node:worker_threads';
import { Dreamer } from '../engine/dreamer.ts';
import { toWorkerError, transferableImage, type DreamWorkerData, type MainToWorker, type WorkerToMain } from './worker-messages.ts';

const port = parentPort;
if (!port) throw new Error('dream-worker.ts must run in a worker thread (see DreamWorkerPool).');
const config = workerData as DreamWorkerData;

const post = (msg: WorkerToMain, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

const started = Date.now();
const dreamer = Dreamer.create({
  backend: config.backend,
  model: config.model,
  cacheDir: config.cacheDir,
  onWarning: (message) => post({ type: 'warning', message }),
});
dreamer.then(
  (d) => post({ type: 'ready', backend: d.backend, model: d.manifest.name, loadMs: Date.now() - started }),
  (err: unknown) => post({ type: 'fatal', error: toWorkerError(err) }),
);

/** Jobs received and not finished; an entry exists from arrival so a cancel can never be missed. */
const controllers = new Map<number, AbortController>();
/** Jobs run strictly one after another (the pool sends one at a time; this keeps it true regardless). */
let chain: Promise<void> = Promise.resolve();
/** Set by the `fail-next` test hook. */
let injectedFailure: string | null = null;

async function runJob(msg: Extract<MainToWorker, { type: 'dream' }>, signal: AbortSignal): Promise<void> {
  try {
    const d = await dreamer;
    if (injectedFailure) {
      const message = injectedFailure;
      injectedFailure = null;
      throw new Error(message);
    }
    const out = await d.dream(msg.image, msg.params, {
      signal,
      previews: msg.previews,
      onProgress: (progress) => {
        if (!progress.preview) return post({ type: 'progress', jobId: msg.jobId, progress });
        const { image, transfer } = transferableImage(progress.preview);
        post({ type: 'progress', jobId: msg.jobId, progress: { ...progress, preview: image } }, transfer);
      },
    });
    const { image, transfer } = transferableImage(out);
    post({ type: 'done', jobId: msg.jobId, image }, transfer);
  } catch (err) {
    post({ type: 'failed', jobId: msg.jobId, error: toWorkerError(err) });
  } finally {
    controllers.delete(msg.jobId);
  }
}

port.on('message', (msg: MainToWorker) => {
  switch (msg.type) {
    case 'dream': {
      const controller = new AbortController();
      controllers.set(msg.jobId, controller);
      chain = chain.then(() => runJob(msg, controller.signal));
      break;
    }
    case 'cancel':
      // The engine checks the signal before every step and yields to the event loop between steps.
      controllers.get(msg.jobId)?.abort();
      break;
    case 'crash':
      if (config.allowCrashHook) process.exit(7);
      break;
    case 'fail-next':
      if (config.allowCrashHook) injectedFailure = msg.message;
      break;
  }
});
