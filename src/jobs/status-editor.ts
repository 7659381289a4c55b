import type { Logger } from 'pino';
import type { JobView, ReplyTarget } from './reply-target.ts';

/** How often a job's message may change, and how long to wait before posting its outcome again. */
export interface StatusTiming {
  /** Progress edits at most this often (Discord rate-limits message edits): STATUS_EDIT_INTERVAL_MS. */
  editIntervalMs: number;
  /** Waits before posting a job's outcome again when Discord keeps failing (discord.js already retried): OUTCOME_RETRY_DELAYS_MS. */
  outcomeRetryDelaysMs: readonly number[];
}

/** 5xx and network failures may pass; a 4xx (other than 429, which discord.js waits out itself) will not. */
function retryable(err: unknown): boolean {
  const status = (err as { status?: unknown }).status;
  return typeof status !== 'number' || status >= 500;
}

/**
 * Serialises a job's message edits and drops stale ones: at most one edit per interval, always the latest,
 * and a final view that nothing queued before it can overwrite.
 */
export class StatusEditor {
  private chain: Promise<void> = Promise.resolve();
  private pending: JobView | null = null;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private finished = false;

  constructor(
    readonly target: ReplyTarget,
    private readonly log: Logger,
    private readonly timing: StatusTiming,
  ) {}

  /** Shows `view` soon (at once when urgent, e.g. a preview), replacing any update not yet sent. */
  update(view: JobView, urgent = false): void {
    if (this.finished) return;
    this.pending = view;
    const wait = urgent ? 0 : Math.max(0, this.last + this.timing.editIntervalMs - Date.now());
    if (this.timer && !urgent) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = null;
    const view = this.pending;
    this.pending = null;
    if (!view || this.finished) return;
    this.last = Date.now();
    void this.enqueue(() => this.target.show(view));
  }

  /** Shows `view` now, after the edits before it (for a first view whose message must exist before going on). */
  show(view: JobView): Promise<void> {
    if (this.finished) return this.chain;
    this.last = Date.now();
    return this.enqueue(() => this.target.show(view));
  }

  private enqueue(edit: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(edit).catch((err: Error) => this.log.warn({ err }, 'could not update a dream message'));
    return this.chain;
  }

  /**
   * The last word: drops pending progress, then shows `view` as final. The outcome matters more than progress,
   * so it is tried again a few times, with growing waits, while Discord answers 5xx or cannot be reached.
   */
  finish(view: JobView): Promise<void> {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    return this.enqueue(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.target.show(view, true);
        } catch (err) {
          const delay = this.timing.outcomeRetryDelaysMs[attempt];
          if (delay === undefined || !retryable(err)) throw err;
          this.log.warn({ err, attempt: attempt + 1, retryInMs: delay }, 'could not post a dream outcome; trying again');
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    });
  }
}
