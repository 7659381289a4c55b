// Runs dreams on worker threads so the bot's main thread (Discord gateway heartbeats) never blocks.
import { Worker } from 'node:worker_threads';
import { CancelledError as DreamCancelledError, fromErrorData } from '../errors.ts';
import type { AnimationProgress, BackendChoice, BackendInfo, DreamProgress, Explanation, ScreenResult, ZoomProgress } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';
import { transferableImage, type DreamWorkerData, type MainToWorker, type WorkerToMain } from './messages.ts';
import {
  WorkerCrashedError,
  type AnimationInput,
  type AnimationRunCallbacks,
  type DreamInput,
  type DreamRunCallbacks,
  type DreamRunner,
  type ExplainInput,
  type ZoomInput,
  type ZoomRunCallbacks,
} from './runner.ts';

export type PoolLog = (level: 'info' | 'warn' | 'error', msg: string, extra?: object) => void;

export interface DreamWorkerPoolOptions {
  size: number;
  backend: BackendChoice;
  model: string;
  /** CPU threads each worker's dreams use on onnx (default 1). */
  threads?: number;
  cacheDir?: string;
  stylesDir?: string;
  /** How long a worker may take to confirm a cancel before it is terminated and replaced (default 10 s). */
  cancelGraceMs?: number;
  /**
   * The module each worker thread imports and whose `serveDreams()` it calls (default: ./dream-worker.ts).
   * Tests pass one that wraps the real worker to fail on cue.
   */
  entry?: URL;
  log?: PoolLog;
}

const CANCEL_GRACE_MS = 10_000;
/** How long a retired worker may take to end by itself before it is terminated. */
const RETIRE_TIMEOUT_MS = 60_000;

/** What a worker is asked to do: dream one picture, or explain some. */
type Task =
  | { kind: 'dream'; input: DreamInput }
  | { kind: 'explain'; input: ExplainInput }
  | { kind: 'zoom'; input: ZoomInput }
  | { kind: 'animate'; input: AnimationInput }
  | { kind: 'screen'; input: RgbImage[] };
type Outcome = { image: RgbImage } | { frames: RgbImage[] } | { explanations: Explanation[] } | { results: ScreenResult[] } | { error: Error };

/** A job's callbacks: a dream's or a zoom's progress (a zoom's events are ZoomProgress). */
interface TaskCallbacks {
  signal?: AbortSignal;
  onProgress?: (p: DreamProgress & Partial<ZoomProgress>) => void;
}

interface Job {
  id: number;
  task: Task;
  opts: TaskCallbacks;
  /** Settles the caller's promise (once); the worker may stay busy with the job until it confirms. */
  settle: (result: Outcome) => void;
  settled: boolean;
  cancelTimer?: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | null;
  /** The last uncaught error of the worker, to explain its exit. */
  lastError?: Error;
  /** Startup callbacks, until ready. */
  onReady?: (msg: Extract<WorkerToMain, { type: 'ready' }>) => void;
  onFail?: (err: Error) => void;
  /** Taken out of service (see retire): its messages and exit no longer count. */
  retired?: boolean;
}

/**
 * How to start dream-worker: from TypeScript sources (tsx CLI, `node --import tsx`, vitest) the worker
 * registers tsx itself before importing the entry. `--import tsx` in the worker's execArgv is not
 * enough: on Node 20 tsx only installs its hooks on the main thread.
 */
function workerScript(entry: URL): string {
  const load = `import(${JSON.stringify(entry.href)}).then((m) => m.serveDreams())`;
  if (!entry.pathname.endsWith('.ts')) return load;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return ${load}; });`;
}

const DEFAULT_ENTRY = new URL(import.meta.url.endsWith('.ts') ? './dream-worker.ts' : './dream-worker.js', import.meta.url);

/**
 * The parent's Node flags a worker inherits: only those about module resolution and warnings. Loaders
 * are left out (the worker registers tsx itself), as are inspector flags (a second inspector on the
 * same port fails) and V8/process-wide flags such as --max-old-space-size, which `new Worker` rejects.
 */
const INHERITED_FLAG = /^--(conditions|enable-source-maps|no-warnings|no-deprecation|trace-warnings|trace-deprecation)(=|$)/;

function workerExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    if ((args[i] === '--conditions' || args[i] === '-C') && i + 1 < args.length) out.push('--conditions', args[++i]);
    else if (INHERITED_FLAG.test(args[i])) out.push(args[i]);
  }
  return out;
}

/** A fixed number of dream worker threads, each with the model loaded, running one dream each. */
export class DreamWorkerPool implements DreamRunner {
  /** The backend the workers run on (from the first worker ready). */
  backend!: BackendInfo;
  readonly size: number;
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private readonly log: PoolLog;
  private nextJobId = 1;
  private closing: Promise<void> | null = null;
  /** Retired workers still finishing their step (see retire). */
  private readonly retiring = new Set<Promise<void>>();

  private constructor(private readonly opts: DreamWorkerPoolOptions) {
    this.size = opts.size;
    this.log = opts.log ?? (() => {});
  }

  /** Starts `size` workers; resolves when all have loaded the model, rejects (and cleans up) if any cannot. */
  static async start(opts: DreamWorkerPoolOptions): Promise<DreamWorkerPool> {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new Error(`The worker pool size must be a whole number of at least 1, not ${opts.size}.`);
    const pool = new DreamWorkerPool(opts);
    const started = Date.now();
    try {
      await Promise.all(Array.from({ length: opts.size }, () => pool.spawn()));
    } catch (err) {
      await pool.close();
      throw new Error(`The dream workers could not start: ${(err as Error).message}`, { cause: err });
    }
    pool.log('info', `Dream worker pool ready: ${opts.size} worker(s) on ${pool.backend.detail}`, { ms: Date.now() - started });
    return pool;
  }

  /** Workers currently running (or finishing a cancelled) dream. */
  get busy(): number {
    let n = 0;
    for (const s of this.slots) if (s.job) n++;
    return n;
  }

  /** Worker threads alive (ready, busy or starting as a replacement); 0 after close(). */
  get alive(): number {
    return this.slots.size;
  }

  /** Dreams on an idle worker (FIFO if none is idle). Rejects with CancelledError, a UserError or WorkerCrashedError. */
  async run(input: DreamInput, opts: DreamRunCallbacks = {}): Promise<RgbImage> {
    const out = await this.submit({ kind: 'dream', input }, opts);
    if (!('image' in out)) throw new Error('internal: a dream ended without an image');
    return out.image;
  }

  /** Explains pictures on an idle worker (its classifier is loaded on first use). Rejects as `run` does. */
  /** Screens pictures on an idle worker (its screener is loaded on first use). Rejects as `run` does. */
  async screen(images: RgbImage[], opts: Pick<DreamRunCallbacks, 'signal'> = {}): Promise<ScreenResult[]> {
    const out = await this.submit({ kind: 'screen', input: images }, opts);
    if (!('results' in out)) throw new Error('internal: a screen ended without a result');
    return out.results;
  }

  async explain(input: ExplainInput, opts: Pick<DreamRunCallbacks, 'signal'> = {}): Promise<Explanation[]> {
    const out = await this.submit({ kind: 'explain', input }, opts);
    if (!('explanations' in out)) throw new Error('internal: an explanation ended without a result');
    return out.explanations;
  }

  /** An endless-zoom animation on an idle worker; its frames come back moved, not copied. Rejects as `run` does. */
  async zoom(input: ZoomInput, opts: ZoomRunCallbacks = {}): Promise<RgbImage[]> {
    const out = await this.submit({ kind: 'zoom', input }, { signal: opts.signal, onProgress: opts.onProgress && ((p) => opts.onProgress!(p as ZoomProgress)) });
    if (!('frames' in out)) throw new Error('internal: a zoom ended without frames');
    return out.frames;
  }

  /** An animation dreamed frame by frame on an idle worker; its frames come back moved. Rejects as `run` does. */
  async animate(input: AnimationInput, opts: AnimationRunCallbacks = {}): Promise<RgbImage[]> {
    const out = await this.submit({ kind: 'animate', input }, { signal: opts.signal, onProgress: opts.onProgress && ((p) => opts.onProgress!(p as AnimationProgress)) });
    if (!('frames' in out)) throw new Error('internal: an animation ended without frames');
    return out.frames;
  }

  private submit(task: Task, opts: TaskCallbacks): Promise<Exclude<Outcome, { error: Error }>> {
    return new Promise((resolve, reject) => {
      if (this.closing || opts.signal?.aborted) return reject(new DreamCancelledError());
      const onAbort = () => this.cancel(job);
      const job: Job = {
        id: this.nextJobId++,
        task,
        opts,
        settled: false,
        settle: (result) => {
          if (job.settled) return;
          job.settled = true;
          opts.signal?.removeEventListener('abort', onAbort);
          if ('error' in result) reject(result.error);
          else resolve(result);
        },
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /**
   * Ends every worker; running and queued dreams reject with DreamCancelledError. Idempotent. Each worker is asked to
   * stop its dream and free its model first (terminating a thread that holds onnxruntime-node sessions aborts the
   * process); one that has not ended within the cancel grace is terminated.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const job of this.queue.splice(0)) job.settle({ error: new DreamCancelledError() });
      const slots = [...this.slots];
      for (const slot of slots) {
        if (slot.job) this.finish(slot, { error: new DreamCancelledError() });
        slot.onFail?.(new Error('The pool was closed while starting.'));
      }
      const grace = this.opts.cancelGraceMs ?? CANCEL_GRACE_MS;
      await Promise.all([...slots.map((s) => this.endWorker(s.worker, Math.max(grace, 1000))), ...this.retiring]);
    })();
    return this.closing;
  }

  /** Asks a worker to end; terminates it if it has not within `graceMs`. */
  private async endWorker(worker: Worker, graceMs: number): Promise<void> {
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' } satisfies MainToWorker);
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref());
    if ((await Promise.race([exited, timer])) === 'late') await worker.terminate();
    await exited;
  }

  /** Async so that even a synchronous failure of `new Worker` becomes a rejection. */
  private async spawn(): Promise<void> {
    const workerData: DreamWorkerData = {
      backend: this.opts.backend,
      model: this.opts.model,
      threads: this.opts.threads ?? 1,
      cacheDir: this.opts.cacheDir,
      stylesDir: this.opts.stylesDir,
    };
    const worker = new Worker(workerScript(this.opts.entry ?? DEFAULT_ENTRY), { eval: true, workerData, execArgv: workerExecArgv() });
    const slot: Slot = { worker, ready: false, job: null };
    this.slots.add(slot);
    // Every failure mode of a worker arrives as events here; none may throw in the main thread.
    worker.on('message', (msg: WorkerToMain) => this.onMessage(slot, msg));
    worker.on('error', (err) => {
      slot.lastError = err;
      this.log('error', `Dream worker error: ${err.message}`, { stack: err.stack });
    });
    worker.on('messageerror', (err) => this.log('error', `Dream worker message could not be decoded: ${err.message}`));
    worker.on('exit', (code) => this.onExit(slot, code));
    return new Promise<void>((resolve, reject) => {
      slot.onReady = (msg) => {
        this.backend ??= msg.backend;
        this.log('info', `Dream worker ready (model ${msg.model}, ${msg.backend.name})`, { loadMs: msg.loadMs });
        resolve();
      };
      slot.onFail = reject;
    });
  }

  private onMessage(slot: Slot, msg: WorkerToMain): void {
    if (slot.retired) return;
    switch (msg.type) {
      case 'ready':
        slot.ready = true;
        slot.onReady?.(msg);
        slot.onReady = slot.onFail = undefined;
        this.pump();
        break;
      case 'fatal':
        slot.onFail?.(fromErrorData(msg.error));
        slot.onReady = slot.onFail = undefined;
        this.log('error', `Dream worker could not start: ${msg.error.message}`);
        void slot.worker.terminate();
        break;
      case 'warning':
        this.log('warn', `Dream worker: ${msg.message}`);
        break;
      case 'progress': {
        const job = slot.job;
        if (job?.id !== msg.jobId || job.settled) break;
        try {
          job.opts.onProgress?.(msg.progress);
        } catch (err) {
          this.log('warn', `onProgress threw: ${(err as Error).message}`);
        }
        break;
      }
      case 'done':
        return this.ended(slot, msg.jobId, { image: msg.image });
      case 'frames':
        return this.ended(slot, msg.jobId, { frames: msg.frames });
      case 'explained':
        return this.ended(slot, msg.jobId, { explanations: msg.explanations });
      case 'screened':
        return this.ended(slot, msg.jobId, { results: msg.results });
      case 'failed':
        return this.ended(slot, msg.jobId, { error: fromErrorData(msg.error) });
    }
  }

  /** A worker finished a job (its result, or an error): settle it if it is still the slot's, and hand out the next. */
  private ended(slot: Slot, jobId: number, result: Outcome): void {
    if (slot.job?.id === jobId) this.finish(slot, result);
    this.pump();
  }

  private onExit(slot: Slot, code: number): void {
    if (slot.retired) return; // replaced already
    this.slots.delete(slot);
    const why = slot.lastError ? `: ${slot.lastError.message}` : '';
    slot.onFail?.(new Error(`The dream worker exited with code ${code} before it was ready${why}`));
    const wasReady = slot.ready;
    if (slot.job) this.finish(slot, { error: new WorkerCrashedError(code) });
    if (this.closing) return;
    if (wasReady) {
      this.log('warn', `Dream worker exited (code ${code}); starting a replacement`);
      this.spawn().catch((err: Error) => {
        if (this.closing) return;
        this.log('error', `Replacement dream worker failed: ${err.message}`);
        this.failQueueIfNoWorkers();
      });
    }
    this.failQueueIfNoWorkers();
  }

  private failQueueIfNoWorkers(): void {
    if (this.slots.size > 0) return;
    for (const job of this.queue.splice(0)) job.settle({ error: new WorkerCrashedError() });
  }

  /** Frees the slot and settles its job (a no-op for the caller if it was already cancelled). */
  private finish(slot: Slot, result: Outcome): void {
    const job = slot.job;
    if (!job) return;
    clearTimeout(job.cancelTimer);
    slot.job = null;
    job.settle(result);
  }

  private pump(): void {
    if (this.closing) return;
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      // Copy the pixels: the caller keeps its images, and only the pixels' own bytes are sent.
      const { task } = job;
      if (task.kind === 'dream') {
        const { image, transfer } = transferableImage(task.input.image, true);
        const msg: MainToWorker = { type: 'dream', jobId: job.id, image, params: task.input.params, previews: task.input.previews ?? false };
        slot.worker.postMessage(msg, transfer);
      } else if (task.kind === 'zoom') {
        const { image, transfer } = transferableImage(task.input.image, true);
        const msg: MainToWorker = { type: 'zoom', jobId: job.id, image, params: task.input.params, previewEvery: task.input.previewEvery ?? 0 };
        slot.worker.postMessage(msg, transfer);
      } else if (task.kind === 'animate') {
        const copies = task.input.frames.map((img) => transferableImage(img, true));
        const msg: MainToWorker = { type: 'animate', jobId: job.id, frames: copies.map((c) => c.image), params: task.input.params, previewEvery: task.input.previewEvery ?? 0 };
        slot.worker.postMessage(msg, copies.flatMap((c) => c.transfer));
      } else if (task.kind === 'screen') {
        const copies = task.input.map((img) => transferableImage(img, true));
        const msg: MainToWorker = { type: 'screen', jobId: job.id, images: copies.map((c) => c.image) };
        slot.worker.postMessage(msg, copies.flatMap((c) => c.transfer));
      } else {
        const copies = task.input.images.map((img) => transferableImage(img, true));
        const msg: MainToWorker = { type: 'explain', jobId: job.id, images: copies.map((c) => c.image), model: task.input.model, target: task.input.target, top: task.input.top };
        slot.worker.postMessage(msg, copies.flatMap((c) => c.transfer));
      }
    }
  }

  private cancel(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    job.settle({ error: new DreamCancelledError() });
    const slot = [...this.slots].find((s) => s.job === job);
    if (!slot) return;
    // The caller is answered now; the worker stays busy until it confirms (within a step), or is replaced.
    slot.worker.postMessage({ type: 'cancel', jobId: job.id } satisfies MainToWorker);
    const grace = this.opts.cancelGraceMs ?? CANCEL_GRACE_MS;
    job.cancelTimer = setTimeout(() => {
      if (slot.job !== job) return;
      this.log('warn', `Dream worker did not confirm a cancel within ${grace} ms; replacing it`);
      this.retire(slot);
    }, grace);
    job.cancelTimer.unref();
  }

  /**
   * Takes a worker out of service and starts a replacement at once. The old one is asked to end (it does after its
   * current step); it is terminated only if it is still there after RETIRE_TIMEOUT_MS, because terminating a thread
   * inside an onnxruntime-node call aborts the whole process.
   */
  private retire(slot: Slot): void {
    if (!this.slots.delete(slot)) return;
    slot.retired = true;
    slot.job = null;
    const ended = this.endWorker(slot.worker, RETIRE_TIMEOUT_MS).finally(() => this.retiring.delete(ended));
    this.retiring.add(ended);
    if (this.closing) return;
    this.spawn().catch((err: Error) => {
      if (this.closing) return;
      this.log('error', `Replacement dream worker failed: ${err.message}`);
      this.failQueueIfNoWorkers();
    });
  }
}
