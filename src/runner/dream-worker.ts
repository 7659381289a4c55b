// A dream worker thread: loads the model once, then dreams one job at a time for DreamWorkerPool.
import { parentPort, workerData } from 'node:worker_threads';
import { CancelledError, toErrorData } from '../errors.ts';
import { createDreamer, createExplainer, createScreener, dreamAnimation, dreamZoom, type Dreamer, type Explainer, type Screener, type ZoomProgress } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';
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

  /** Classifiers for Explain, loaded on first use, by model name ('' = the default). */
  const explainers = new Map<string, Promise<Explainer>>();
  const explainer = (model = ''): Promise<Explainer> => {
    let e = explainers.get(model);
    if (!e) {
      e = createExplainer({ ...config, model: model || undefined, onWarning: (message) => post({ type: 'warning', message }) });
      explainers.set(model, e);
      e.catch(() => explainers.delete(model));
    }
    return e;
  };

  /** nsfwjs's classifier, loaded on first use (about 350 MB; workers that never screen never load it). */
  let screener: Promise<Screener> | null = null;

  async function runScreen(msg: Extract<MainToWorker, { type: 'screen' }>, signal: AbortSignal): Promise<void> {
    screener ??= createScreener({ ...config, onWarning: (message) => post({ type: 'warning', message }) });
    screener.catch(() => (screener = null));
    const s = await screener;
    const results = [];
    for (const image of msg.images) {
      if (signal.aborted) throw new CancelledError();
      results.push(await s.screen(image));
    }
    post({ type: 'screened', jobId: msg.jobId, results });
  }

  async function runExplain(msg: Extract<MainToWorker, { type: 'explain' }>, signal: AbortSignal): Promise<void> {
    const e = await explainer(msg.model);
    const explanations = [];
    for (const image of msg.images) {
      if (signal.aborted) throw new CancelledError();
      explanations.push(await e.explain(image, { target: msg.target, top: msg.top }));
    }
    post({ type: 'explained', jobId: msg.jobId, explanations });
  }

  /** Jobs received and not finished; an entry exists from arrival so a cancel can never be missed. */
  const controllers = new Map<number, AbortController>();
  /** Jobs run strictly one after another (the pool sends one at a time; this keeps it true regardless). */
  let chain: Promise<void> = Promise.resolve();

  async function runJob(msg: Extract<MainToWorker, { type: 'dream' }>, signal: AbortSignal): Promise<void> {
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
  }

  /** A zoom or an animation: frames made one by one, all posted back at the end. */
  async function runZoom(msg: Extract<MainToWorker, { type: 'zoom' | 'animate' }>, signal: AbortSignal): Promise<void> {
    const opts = {
      signal,
      previewEvery: msg.previewEvery,
      onProgress: (progress: ZoomProgress) => {
        // A preview is one of the frames, which go back at the end: it is copied, not moved.
        if (!progress.preview) return post({ type: 'progress', jobId: msg.jobId, progress });
        const { image, transfer } = transferableImage(progress.preview, true);
        post({ type: 'progress', jobId: msg.jobId, progress: { ...progress, preview: image } }, transfer);
      },
    };
    // An animation's progress has a zoom's shape (frame, frames, frameDone).
    const frames = msg.type === 'zoom' ? await dreamZoom(await dreamer, msg.image, msg.params, opts) : await dreamAnimation(await dreamer, msg.frames, msg.params, opts);
    // Frames may share a buffer (frame 0 is the input): each is moved once, copied if it is not its own.
    const seen = new Set<ArrayBufferLike>();
    const out: RgbImage[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const f of frames) {
      const t = transferableImage(f, seen.has(f.data.buffer));
      seen.add(t.image.data.buffer);
      out.push(t.image);
      transfer.push(...t.transfer);
    }
    post({ type: 'frames', jobId: msg.jobId, frames: out }, transfer);
  }

  port.on('message', (msg: MainToWorker) => {
    if (msg.type === 'dream' || msg.type === 'explain' || msg.type === 'zoom' || msg.type === 'animate' || msg.type === 'screen') {
      const controller = new AbortController();
      controllers.set(msg.jobId, controller);
      const work = () => {
        switch (msg.type) {
          case 'dream':
            return runJob(msg, controller.signal);
          case 'zoom':
          case 'animate':
            return runZoom(msg, controller.signal);
          case 'screen':
            return runScreen(msg, controller.signal);
          default:
            return runExplain(msg, controller.signal);
        }
      };
      // Whatever the kind, a failure is posted as `failed` and the job forgotten once it ends.
      const run = () =>
        work()
          .catch((err: unknown) => post({ type: 'failed', jobId: msg.jobId, error: toErrorData(err) }))
          .finally(() => controllers.delete(msg.jobId));
      chain = chain.then(run);
    } else if (msg.type === 'cancel') {
      // The engine checks the signal before every step and yields to the event loop between steps.
      controllers.get(msg.jobId)?.abort();
    } else {
      // Native sessions must be released before the thread ends: terminating a thread that holds onnxruntime-node
      // sessions aborts the whole process.
      for (const c of controllers.values()) c.abort();
      const free = async (x: Promise<{ dispose(): Promise<void> }>) => (await x).dispose();
      chain = chain
        .then(async () => void (await Promise.allSettled([free(dreamer), ...[...explainers.values()].map(free), ...(screener ? [free(screener)] : [])])))
        .finally(() => port.close());
    }
  });
}
