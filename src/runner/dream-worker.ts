// A dream worker thread: loads the model once, then dreams one job at a time for DreamWorkerPool.
import { parentPort, workerData } from 'node:worker_threads';
import { toErrorData } from '../errors.ts';
import { createDreamer, type Dreamer } from '../engine/index.ts';
import { transferableImage, type DreamWorkerData, type MainToWorker, type WorkerToMain } from './messages.ts';

/**
 * Serves dreams on this worker thread. `adapt` wraps the loaded dreamer (a test entry uses it to make a worker
 * crash or fail on cue; production passes nothing).
 */
export function serveDreams(adapt: (dreamer: Dreamer) => Dreamer = (d) => d): void {
  const port = parentPort;
  if (!port) throw new Error('dream-worker.ts must run in a worker thread (see DreamWorkerPool).');
  const config = workerData as DreamWorkerData;
  const post = (msg: WorkerToMain, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

  const started = Date.now();
  const dreamer = createDreamer({ ...config, onWarning: (message) => post({ type: 'warning', message }) }).then(adapt);
  dreamer.then(
    (d) => post({ type: 'ready', backend: d.backend, model: d.manifest.name, loadMs: Date.now() - started }),
    (err: unknown) => post({ type: 'fatal', error: toErrorData(err) }),
  );

  /** Jobs received and not finished; an entry exists from arrival so a cancel can never be missed. */
  const controllers = new Map<number, AbortController>();
  /** Jobs run strictly one after another (the pool sends one at a time; this keeps it true regardless). */
  let chain: Promise<void> = Promise.resolve();

  async function runJob(msg: Extract<MainToWorker, { type: 'dream' }>, signal: AbortSignal): Promise<void> {
    try {
      const out = await (await dreamer).dream(msg.image, msg.params, {
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
      post({ type: 'failed', jobId: msg.jobId, error: toErrorData(err) });
    } finally {
      controllers.delete(msg.jobId);
    }
  }

  port.on('message', (msg: MainToWorker) => {
    if (msg.type === 'dream') {
      const controller = new AbortController();
      controllers.set(msg.jobId, controller);
      chain = chain.then(() => runJob(msg, controller.signal));
    } else if (msg.type === 'cancel') {
      // The engine checks the signal before every step and yields to the event loop between steps.
      controllers.get(msg.jobId)?.abort();
    } else {
      // Native sessions must be released before the thread ends: terminating a thread that holds onnxruntime-node
      // sessions aborts the whole process.
      for (const c of controllers.values()) c.abort();
      chain = chain
        .then(() => dreamer)
        .then((d) => d.dispose())
        .catch(() => undefined)
        .finally(() => port.close());
    }
  });
}
