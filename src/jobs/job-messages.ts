import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import type { JobRef, NotRunEnding } from './job.ts';
import { RestReplyTarget, type JobView } from './reply-target.ts';
import { StatusEditor, type StatusTiming } from './status-editor.ts';
import { endView, waitingView, wordsFor } from './views.ts';

/**
 * The messages of the jobs this process shows: one status editor per job, so its edits stay in order, for the
 * waiting line (wherever the queue is), the run and the ending.
 */
export class JobMessages {
  private readonly editors = new Map<string, StatusEditor>();

  constructor(
    private readonly rest: REST,
    private readonly log: Logger,
    private readonly timing: StatusTiming,
  ) {}

  editor(job: JobRef): StatusEditor {
    let editor = this.editors.get(job.id);
    if (!editor) {
      editor = new StatusEditor(new RestReplyTarget(this.rest, job.data.reply), this.log, this.timing);
      this.editors.set(job.id, editor);
    }
    return editor;
  }

  /** The job's last word; its editor is forgotten after it. */
  async finish(job: JobRef, view: JobView): Promise<void> {
    try {
      await this.editor(job).finish(view);
    } finally {
      this.editors.delete(job.id);
    }
  }

  /** Refuses the job privately (its public "thinking…" goes) and forgets it. */
  async refuse(job: JobRef, sentence: string): Promise<void> {
    try {
      await this.editor(job).target.refuse(sentence);
    } finally {
      this.editors.delete(job.id);
    }
  }

  /** From now on the job's pictures are posted as spoilers. */
  spoiler(job: JobRef): void {
    const target = this.editor(job).target;
    if (target instanceof RestReplyTarget) target.spoiler = true;
  }

  /** Shows a waiting job's place in line; the first view is sent at once (a reply to a message gets its id). */
  showPosition = async (job: JobRef, position: number, etaSeconds: number, first: boolean): Promise<void> => {
    const view = waitingView(wordsFor(job.data.reply), job.id, position, etaSeconds);
    if (first) await this.editor(job).show(view);
    else this.editor(job).update(view);
  };

  /** Shows how a job ended when it never ran (or its workers died): its processor could not say so itself. */
  showEnd = async (job: JobRef, ending: NotRunEnding): Promise<void> => {
    const { end } = wordsFor(job.data.reply);
    const text = ending === 'cancelled' ? end.cancelled : ending === 'not_run' ? end.notRun : end.diedTwice;
    await this.finish(job, endView(text)).catch((err: Error) => this.log.warn({ err, job: job.id }, 'could not show how a job ended'));
  };
}
