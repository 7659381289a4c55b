import type { Logger } from 'pino';
import type { Catalog } from '../i18n/index.ts';
import type { JobTerms } from '../jobs/index.ts';
import type { RequestFacts, ServerSettings, Store } from '../store/index.ts';

/** Why a request is not taken: one sentence for the member; `unavailable` when the database cannot be reached. */
export type Turned = { ok: false; sentence: string; outcome: 'refused' | 'unavailable' };

const HOUR_MS = 3600 * 1000;

/**
 * A server's rules for the requests made in it (/settings): which channels are open, the daily limit, the default
 * intensity and the safety policy. Read from the database at every request, never cached, so a change made through
 * any bot process is what every other one obeys next.
 */
export class Community {
  private pruner: NodeJS.Timeout | null = null;

  constructor(
    readonly store: Store,
    private readonly log: Logger,
  ) {}

  /** The settings of the server a request comes from (DMs have none), or why it is not taken in this channel. */
  async rulesFor(place: { guildId?: string; channelId: string }, t: Catalog): Promise<{ ok: true; settings?: ServerSettings } | Turned> {
    if (!place.guildId) return { ok: true };
    try {
      const settings = await this.store.settings(place.guildId);
      if (settings.channelMode === 'listed' && !settings.channels.includes(place.channelId)) {
        return { ok: false, sentence: t.community.channelClosed(settings.channels.map((id) => `<#${id}>`)), outcome: 'refused' };
      }
      return { ok: true, settings };
    } catch (err) {
      return this.unreachable(err, t, 'read settings');
    }
  }

  /**
   * Counts a request against its member's day and records it; the terms travel with the job (its history row,
   * this server's safety policy). Refused past the daily limit, with when the day starts over.
   */
  async admit(facts: RequestFacts, settings: ServerSettings | undefined, t: Catalog): Promise<{ ok: true; terms: JobTerms } | Turned> {
    try {
      const admission = await this.store.admit(facts, settings?.dailyLimit ?? 0);
      if (!admission.ok) {
        const sentence = t.community.dailyLimitReached({ used: admission.used, limit: admission.limit, cost: facts.cost, resetsAt: new Date(admission.resetsAt) });
        return { ok: false, sentence, outcome: 'refused' };
      }
      return { ok: true, terms: { historyId: admission.historyId, nsfwPolicy: settings?.nsfwPolicy } };
    } catch (err) {
      return this.unreachable(err, t, 'count a request');
    }
  }

  /** A request refused before it was counted (closed channel, full queue, bad picture…), for the server's record. */
  refused(facts: RequestFacts, reason: string): void {
    if (!facts.guildId) return;
    this.store.recordRefusal(facts, reason).catch((err: Error) => this.log.warn({ err }, 'could not record a refusal'));
  }

  /** Whether a mention in this channel may start a dream (mentions on, channel open); in doubt (no database), yes. */
  async mentionsOpen(guildId: string | null | undefined, channelId: string): Promise<boolean> {
    if (!guildId) return true;
    try {
      const s = await this.store.settings(guildId);
      return s.mentions && (s.channelMode === 'everywhere' || s.channels.includes(channelId));
    } catch {
      return true; // the request itself is then refused with the database's sentence
    }
  }

  private unreachable(err: unknown, t: Catalog, what: string): Turned {
    this.log.warn({ err }, `could not ${what}: the database is unavailable`);
    return { ok: false, sentence: t.community.unavailable, outcome: 'unavailable' };
  }

  /** Deletes history older than `days` now and every hour; stops with close(). */
  startPruning(days: number): void {
    const prune = () =>
      this.store.prune(days).then(
        (rows) => rows && this.log.info({ rows, days }, 'deleted old job history'),
        (err: Error) => this.log.warn({ err }, 'could not delete old job history'),
      );
    void prune();
    this.pruner = setInterval(prune, HOUR_MS);
    this.pruner.unref();
  }

  async close(): Promise<void> {
    if (this.pruner) clearInterval(this.pruner);
    this.pruner = null;
    await this.store.close();
  }
}
