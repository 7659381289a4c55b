import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/** What a connection is for; it decides how commands behave while Redis is away. */
export type ConnectionRole =
  /**
   * Commands whose caller answers a member now (the bot's queue): no offline queue, no resend after a reconnect, and
   * a time limit, so a command either runs now or fails now; nothing runs later behind the member's back.
   */
  | 'commands'
  /** BullMQ workers, queue events and pub/sub: wait out an outage and carry on (BullMQ needs maxRetriesPerRequest null). */
  | 'patient';

/** How long a `commands` connection waits for an answer before giving up. */
export const COMMAND_TIMEOUT_MS = 2000;

const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|Connection is closed|Stream isn't writeable|Command timed out|max retries|MaxRetriesPerRequest|socket (closed|hang up)|connect ETIMEDOUT/i;

/** The link to Redis went away or did not answer: an outage, not a bug. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && CONNECTION_ERROR.test(code)) || CONNECTION_ERROR.test(err.message) || err.name === 'MaxRetriesPerRequestError';
}

export const maskedUrl = (url: string) => url.replace(/\/\/[^@]*@/, '//***@');

/** The parts of an ioredis client a link watches (BullMQ hands out proxies of its own connections). */
interface Watchable {
  status: string;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close' | 'end' | 'ready', listener: () => void): unknown;
}

/**
 * The Redis connections of one process, watched as one link. Every connection has an `error` listener (ioredis
 * prints a stack trace for each failed reconnect otherwise); an outage is logged once when the first connection
 * drops and once when all are back, with its length; errors in between are connection errors of the same outage and
 * stay at debug level. Other errors are logged once each per outage.
 */
export class RedisLink {
  private readonly clients = new Map<string, Watchable>();
  private readonly created: Redis[] = [];
  /** Since when the link is down (null: up); set at start until the first connection is made. */
  private downSince: number | null = Date.now();
  private everUp = false;
  private warnedUnreachable = false;
  private lastError: string | undefined;
  private readonly reported = new Set<string>();
  private closing = false;
  private readonly listeners = new Set<(up: boolean) => void>();

  constructor(
    readonly url: string,
    private readonly log: Logger,
    /** What an outage means for this process, for the log line (e.g. "dreams are refused until it is back"). */
    private readonly impact?: string,
  ) {}

  /**
   * A new connection, with an `error` listener; watched (part of the link's state) unless `watch` is false, e.g. a
   * lazy connection BullMQ only duplicates.
   */
  connect(name: string, role: ConnectionRole, extra: RedisOptions = {}, watch = true): Redis {
    const options: RedisOptions =
      role === 'commands'
        ? {
            enableOfflineQueue: false,
            autoResendUnfulfilledCommands: false,
            maxRetriesPerRequest: 0,
            commandTimeout: COMMAND_TIMEOUT_MS,
          }
        : { maxRetriesPerRequest: null };
    // Reconnect quickly (at most every 2 s), so the link is back soon after Redis is.
    const client = new Redis(this.url, { retryStrategy: (times) => Math.min(100 * times, 2000), ...options, ...extra });
    this.created.push(client);
    if (watch) this.watch(name, client);
    else client.on('error', (err) => this.report(err, `connection ${name}`));
    return client;
  }

  /** Watches a connection made elsewhere (BullMQ's own). */
  watch(name: string, client: Watchable): void {
    this.clients.set(name, client);
    client.on('error', (err) => this.onError(name, err));
    client.on('close', () => this.onDrop(name));
    client.on('end', () => this.onDrop(name));
    client.on('ready', () => this.onReady());
  }

  /** Every watched connection is ready. */
  get up(): boolean {
    return !this.closing && [...this.clients.values()].every((c) => c.status === 'ready');
  }

  /** Seconds the link has been down (0 when up). */
  downSeconds(): number {
    return this.downSince === null ? 0 : Math.round((Date.now() - this.downSince) / 1000);
  }

  /** Called with the new state whenever the link goes down or comes back. */
  onChange(listener: (up: boolean) => void): void {
    this.listeners.add(listener);
  }

  /**
   * An error reported by BullMQ (a Queue, Worker or QueueEvents `error` event) or by a command: connection errors
   * belong to the outage (logged once, when the link drops); anything else is logged, once per message while the
   * link is down (when errors come with every retry).
   */
  report(err: unknown, source: string): void {
    if (this.closing) return;
    const error = err instanceof Error ? err : new Error(String(err));
    if (isConnectionError(error)) {
      this.lastError = error.message;
      this.log.debug({ source, err: error }, 'Redis connection error');
      return;
    }
    if (this.up) return void this.log.error({ source, err: error }, 'Redis error');
    const key = `${source}: ${error.message}`;
    if (this.reported.has(key)) return this.log.debug({ source, err: error }, 'Redis error (again)');
    this.reported.add(key);
    this.log.warn({ source, err: error }, 'Redis error');
  }

  private onError(name: string, err: Error): void {
    if (this.closing) return;
    this.lastError = err.message;
    if (!this.everUp && !this.warnedUnreachable) {
      this.warnedUnreachable = true;
      this.log.warn({ redis: maskedUrl(this.url), connection: name, reason: err.message }, 'cannot reach Redis yet; retrying');
      return;
    }
    this.report(err, `connection ${name}`);
  }

  private onDrop(name: string): void {
    if (this.closing || !this.everUp || this.downSince !== null) return;
    this.downSince = Date.now();
    this.reported.clear();
    this.log.warn({ redis: maskedUrl(this.url), connection: name, reason: this.lastError, impact: this.impact }, 'Redis connection lost; reconnecting');
    for (const l of this.listeners) l(false);
  }

  private onReady(): void {
    if (this.closing || !this.up) return;
    const wasDown = this.downSince;
    this.downSince = null;
    this.lastError = undefined;
    this.reported.clear();
    if (!this.everUp) {
      this.everUp = true;
      if (this.warnedUnreachable) this.log.warn({ redis: maskedUrl(this.url), outageSeconds: wasDown ? Math.round((Date.now() - wasDown) / 100) / 10 : 0 }, 'Redis reachable');
    } else if (wasDown !== null) {
      this.log.warn({ redis: maskedUrl(this.url), outageSeconds: Math.round((Date.now() - wasDown) / 100) / 10 }, 'Redis connection back');
    }
    for (const l of this.listeners) l(true);
  }

  /** Stops watching (a shutdown is not an outage) and closes the connections this link made. */
  disconnect(): void {
    this.closing = true;
    for (const c of this.created) c.disconnect();
  }

  /** Marks the link as closing before its owner closes BullMQ's connections, so that is not logged as an outage. */
  closingSoon(): void {
    this.closing = true;
  }
}
