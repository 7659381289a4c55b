/**
 * A fake Discord on 127.0.0.1 — REST API, gateway (WebSocket) and attachment CDN in one HTTP server — that the
 * real discord.js Client can log into offline:
 *
 *   const fake = await FakeDiscord.start();
 *   const client = new Client({ intents: [Guilds, GuildMessages], rest: { api: fake.apiBase } });
 *   await client.login(fake.token);
 *   ...
 *   await client.destroy(); // always before fake.close(), or the client reconnects into a closed port
 *   await fake.close();
 *
 * It models what a bot under test can observe: interaction acknowledgement (with Discord's 3 s deadline and
 * "already acknowledged" errors), webhook edits of `@original`, follow-ups, channel messages with uploaded files
 * served back from the fake CDN, command registration, token rejection, and injected 5xx / 429 failures. Started
 * with `shards`, it speaks shards as Discord does: a recommended count and `max_concurrency` in `/gateway/bot`, 4011
 * for an unsharded IDENTIFY, guilds and their events per shard, and one shard's drop and RESUME (`shardOutage`).
 * Everything the client sends over REST is recorded in `requests`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  ChannelType,
  ComponentType,
  EmbedType,
  GatewayIntentBits,
  InteractionContextType,
  InteractionResponseType,
  InteractionType,
  Locale,
  MessageFlags,
  MessageReferenceType,
  MessageType,
  PermissionFlagsBits,
} from 'discord.js';
import type {
  APIApplicationCommand,
  APIApplicationCommandInteractionDataOption,
  APIAttachment,
  APIChatInputApplicationCommandInteraction,
  APIEmbed,
  APIGuildMember,
  APIInteraction,
  APIInteractionGuildMember,
  APIMessage,
  APIMessageApplicationCommandInteraction,
  APIMessageComponentButtonInteraction,
  APIMessageReference,
  APIRole,
  APITextChannel,
  APIUser,
  GuildMemberFlags,
  RoleFlags,
} from 'discord.js';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

// ---------------------------------------------------------------------------------------------------------------
// Public types

/** One uploaded file of a multipart request (`files[n]` parts). */
export interface RecordedFile {
  /** Form field name, e.g. `files[0]`. */
  name: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

/** One REST request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** Path below `/api/v10`, exactly as sent: `@original` arrives (and is recorded) as `%40original`. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** Parsed JSON body, or the `payload_json` part of a multipart body. */
  json?: unknown;
  files: RecordedFile[];
  /** `Date.now()` when the request arrived. */
  at: number;
  /** Status the fake answered with. */
  status: number;
  /** True when no route matched (answered 404): tests can assert there were none. */
  unknownRoute: boolean;
}

export interface RequestMatcher {
  method?: string;
  pathIncludes?: string;
  /** Only requests that upload a file whose name matches (e.g. a final result rather than a progress edit). */
  fileName?: RegExp;
}

export interface FailOptions {
  /** For 429: seconds in `retry-after` / `retry_after` (default 0.1). */
  retryAfterSeconds?: number;
  /** How many matching requests fail (default 1). */
  times?: number;
}

export interface ServeFileOptions {
  /** Wait this long before answering (slow CDN). */
  delayMs?: number;
  /**
   * Lie about the size: a number is sent as `Content-Length` whatever the real size (the connection is then closed,
   * so a larger claim looks like a truncated download and a smaller one cuts the body short); `'omit'` sends the
   * body chunked with no `Content-Length`, so only counting streamed bytes reveals the size.
   */
  lieContentLength?: number | 'omit';
}

/** An attachment for message / slash-command builders. `bytes` are served from the fake CDN. */
export interface FakeAttachmentInput {
  filename: string;
  bytes?: Uint8Array;
  /** Used instead of a CDN url when no bytes are given (e.g. an unreachable or foreign url). */
  url?: string;
  contentType?: string;
  /** Defaults to `bytes.length`; set it to make the payload claim another size. */
  size?: number;
  /** Default: read from PNG / JPEG / GIF headers. */
  width?: number | null;
  height?: number | null;
}

export type OptionValue = string | number | boolean | { type: ApplicationCommandOptionType; value: string | number | boolean };

export interface StartOptions {
  /** Gateway heartbeat interval sent in HELLO (default 41 250 ms, as Discord). */
  heartbeatIntervalMs?: number;
  /**
   * Shards Discord recommends in `GET /gateway/bot` (default 1). Above 1 sharding is required: an IDENTIFY without
   * `shard`, or with fewer shards, is closed with 4011; each shard gets its own guilds (one per shard at least, see
   * `guildOnShard`) and only their events, as Discord routes them by `(guild_id >> 22) % shard_count`.
   */
  shards?: number;
  /** `session_start_limit.max_concurrency` (default 1): how many shards may identify at once (per 5 s). */
  maxConcurrency?: number;
  /** Text channels in the main guild (default 1: `channelId`); see `channelIds`. */
  channels?: number;
}

/** A guild of the fake and its text channels (the first is where interactions happen by default). */
export interface FakeGuild {
  id: string;
  channelIds: string[];
}

/** Where a builder puts an interaction or message: a guild and one of its channels (default: the main ones). */
export interface Place {
  guildId: string;
  channelId: string;
}

export interface GatewayFrame {
  op: number;
  d: unknown;
  at: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Internals

const DISCORD_EPOCH = 1_420_070_400_000n;
let snowflakeIncrement = 0n;

/** A fresh snowflake: 18–19 digits, time-ordered like Discord's, unique within the process. */
export function snowflake(): string {
  snowflakeIncrement = (snowflakeIncrement + 1n) & 0xfffn;
  return (((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (1n << 17n) | snowflakeIncrement).toString();
}

/** Another member of the fake server, named `name` (a fresh id each call). */
export function member(name: string): APIUser {
  return { id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null };
}

/** A guild id that Discord's routing, `(id >> 22) % count`, puts on `shard`. */
function guildIdOnShard(shard: number, count: number): string {
  const ms = BigInt(Date.now()) - DISCORD_EPOCH;
  snowflakeIncrement = (snowflakeIncrement + 1n) & 0xfffn;
  return (((ms - (ms % BigInt(count)) + BigInt(shard)) << 22n) | (1n << 17n) | snowflakeIncrement).toString();
}

/** Width and height from PNG, GIF or baseline/progressive JPEG headers; null when unknown. */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | null {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47) return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.length >= 10 && b.toString('latin1', 0, 3) === 'GIF') return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    for (let i = 2; i + 9 < b.length; ) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      // SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { width: b.readUInt16BE(i + 7), height: b.readUInt16BE(i + 5) };
      }
      i += 2 + b.readUInt16BE(i + 2);
    }
  }
  return null;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface RequestContext {
  method: string;
  path: string;
  query: Record<string, string>;
  json: unknown;
  files: RecordedFile[];
  at: number;
}

interface ServedFile {
  bytes: Buffer;
  contentType: string;
  opts: ServeFileOptions;
  hits: number;
}

interface InteractionState {
  payload: APIInteraction;
  dispatchedAt: number;
  acknowledged: boolean;
  /** Message behind `@original`: the reply, or the component's message for update-type callbacks. */
  originalMessageId: string | null;
  channelId: string;
}

interface Fault {
  matcher: RequestMatcher;
  status: number;
  retryAfterSeconds: number;
  remaining: number;
}

interface Waiter {
  predicate: (request: RecordedRequest) => boolean;
  resolve: (request: RecordedRequest) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface GatewayConnection {
  ws: WebSocket;
  seq: number;
  identified: boolean;
  intents: number;
  sessionId: string | null;
  /** `[id, count]` from IDENTIFY; null for an unsharded session (it gets every guild's events). */
  shard: [number, number] | null;
}

/** Loose shape of message create/edit bodies (REST and interaction callback `data`). */
interface MessageBody {
  content?: string | null;
  embeds?: APIEmbed[] | null;
  components?: APIMessage['components'] | null;
  flags?: number | null;
  attachments?: { id: string | number; filename?: string; description?: string }[] | null;
  message_reference?: APIMessageReference | null;
  tts?: boolean;
}

const error = (status: number, code: number, message: string): Reply => ({ status, body: { message, code } });
const unknownMessage = () => error(404, 10008, 'Unknown Message');
const unknownWebhook = () => error(404, 10015, 'Unknown Webhook');
const unknownChannel = () => error(404, 10003, 'Unknown Channel');

// The bot's managed role: what a typical invite with these permissions grants.
const BOT_PERMISSIONS =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.ReadMessageHistory |
  PermissionFlagsBits.AddReactions |
  PermissionFlagsBits.UseApplicationCommands;
const EVERYONE_PERMISSIONS =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.ReadMessageHistory |
  PermissionFlagsBits.AddReactions |
  PermissionFlagsBits.UseApplicationCommands |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.EmbedLinks;

function user(username: string, extra: Partial<APIUser> = {}): APIUser {
  return { id: snowflake(), username, global_name: username[0].toUpperCase() + username.slice(1), discriminator: '0', avatar: null, ...extra };
}

// ---------------------------------------------------------------------------------------------------------------

export class FakeDiscord {
  readonly applicationId = snowflake();
  readonly botUser: APIUser = user('dreambot', { bot: true, global_name: null });
  readonly botUserId = this.botUser.id;
  readonly guildId = snowflake();
  readonly channelId = snowflake();
  readonly botRoleId = snowflake();
  readonly users = { alice: user('alice'), bob: user('bob') };
  /** The bot token the fake accepts (REST `Authorization: Bot <token>` and gateway IDENTIFY). */
  readonly token = [Buffer.from(this.botUserId), randomBytes(4), randomBytes(20)].map((b) => b.toString('base64url')).join('.');

  /** Every REST request, in the order they were answered. */
  readonly requests: RecordedRequest[] = [];
  /** Every frame the client sent over the gateway (IDENTIFY, heartbeats, presence updates, ...). */
  readonly gatewayFrames: GatewayFrame[] = [];
  /**
   * Discord refuses a callback more than 3 s after the interaction was created ("Unknown interaction", 10062);
   * null disables the check.
   */
  ackDeadlineMs: number | null = 3000;
  /**
   * Like Discord, don't deliver guild MESSAGE_CREATE without the GuildMessages intent, and blank content / embeds /
   * attachments / components without MessageContent unless the bot is mentioned or wrote the message.
   * (The fake does not blank `referenced_message`.)
   */
  enforceIntents = true;
  /** When set, the next IDENTIFYs are answered by closing the socket with this code (4004 bad token, 4014 disallowed intents). */
  identifyCloseCode: number | null = null;
  /** Gateway connections refused during outages (`gatewayOutage`) so far: the client's reconnect attempts. */
  gatewayRefusals = 0;

  #server: Server;
  #wss: WebSocketServer;
  #port = 0;
  #heartbeatIntervalMs: number;
  #closed = new AbortController();
  #connections = new Set<GatewayConnection>();
  #gatewayDownUntil = 0;
  #sessions = new Map<string, GatewayConnection>();
  #waiters = new Set<Waiter>();
  #faults: Fault[] = [];
  #files = new Map<string, ServedFile>();
  #interactions = new Map<string, InteractionState>();
  #interactionsByToken = new Map<string, InteractionState>();
  #messages = new Map<string, Map<string, APIMessage>>();
  #commands = new Map<string, APIApplicationCommand[]>(); // key: 'global' or a guild id
  #commandIds = new Map<string, string>(); // command name → id for commands never registered
  #shardCount: number;
  #maxConcurrency: number;
  #shardDownUntil = new Map<number, number>();
  /** The main guild first (`guildId`, its first channel `channelId`), then one per shard that had none. */
  readonly guilds: FakeGuild[];

  private constructor(options: StartOptions) {
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
    this.#shardCount = options.shards ?? 1;
    this.#maxConcurrency = options.maxConcurrency ?? 1;
    const extraChannels = Array.from({ length: Math.max(0, (options.channels ?? 1) - 1) }, () => snowflake());
    this.guilds = [{ id: this.guildId, channelIds: [this.channelId, ...extraChannels] }];
    for (let shard = 0; shard < this.#shardCount; shard++) {
      if (!this.guilds.some((g) => this.shardOf(g.id) === shard)) this.guilds.push({ id: guildIdOnShard(shard, this.#shardCount), channelIds: [snowflake()] });
    }
    for (const g of this.guilds) for (const c of g.channelIds) this.#messages.set(c, new Map());
    this.#server = createServer((req, res) => {
      this.#onHttp(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, { status: 500, body: { message: `FakeDiscord: ${String(err)}`, code: 0 } });
        else res.destroy();
      });
    });
    // During a gateway outage new connections are refused at the upgrade (HTTP 503), as an unreachable gateway is.
    this.#wss = new WebSocketServer({ server: this.#server, verifyClient: (_info, done) => (this.gatewayDown ? (this.gatewayRefusals++, done(false, 503, 'Service Unavailable')) : done(true)) });
    this.#wss.on('connection', (ws) => this.#onSocket(ws));
  }

  static async start(options: StartOptions = {}): Promise<FakeDiscord> {
    const fake = new FakeDiscord(options);
    await new Promise<void>((resolve, reject) => {
      fake.#server.once('error', reject);
      fake.#server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.#port = (fake.#server.address() as AddressInfo).port;
    return fake;
  }

  get port(): number {
    return this.#port;
  }
  /** Pass as `new Client({ rest: { api: fake.apiBase } })`. */
  get apiBase(): string {
    return `http://127.0.0.1:${this.#port}/api`;
  }
  get cdnBase(): string {
    return `http://127.0.0.1:${this.#port}/attachments/`;
  }
  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.#port}`;
  }

  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('FakeDiscord closed while waiting for a request'));
    }
    this.#waiters.clear();
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections(); // undici keeps REST sockets alive
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------------------------------
  // CDN

  /** Serves `bytes` at `cdnBase + name` (name may contain slashes) and returns that URL. */
  serveFile(name: string, bytes: Uint8Array, contentType: string, opts: ServeFileOptions = {}): string {
    this.#files.set(name, { bytes: Buffer.from(bytes), contentType, opts, hits: 0 });
    return this.cdnBase + name.split('/').map(encodeURIComponent).join('/');
  }

  /** How many times a served file was requested (any method); accepts the name or the full URL. */
  fileRequests(nameOrUrl: string): number {
    return this.#files.get(this.#fileName(nameOrUrl))?.hits ?? 0;
  }

  #fileName(nameOrUrl: string): string {
    if (!nameOrUrl.startsWith(this.cdnBase)) return nameOrUrl;
    return decodeURIComponent(new URL(nameOrUrl).pathname.slice('/attachments/'.length));
  }

  async #serveCdn(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const file = this.#files.get(decodeURIComponent(pathname.slice('/attachments/'.length)));
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    file.hits++;
    if (file.opts.delayMs) {
      await sleep(file.opts.delayMs, undefined, { signal: this.#closed.signal }).catch(() => undefined);
      if (this.#closed.signal.aborted) return void res.destroy();
    }
    const lie = file.opts.lieContentLength;
    res.setHeader('content-type', file.contentType);
    if (lie === undefined) {
      res.setHeader('content-length', file.bytes.length);
      res.end(req.method === 'HEAD' ? undefined : file.bytes);
    } else if (lie === 'omit') {
      res.writeHead(200); // no length: Node falls back to chunked encoding
      if (req.method !== 'HEAD') res.write(file.bytes);
      res.end();
    } else {
      // A wrong Content-Length would desynchronise a kept-alive connection: close it after this response.
      res.writeHead(200, { 'content-length': String(lie), connection: 'close' });
      res.end(req.method === 'HEAD' ? undefined : file.bytes);
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Gateway

  /**
   * Sends a dispatch (op 0) to every identified gateway connection; `perConnection` may reshape the data for a
   * connection's intents, or return undefined to skip it.
   */
  dispatch(t: string, d: unknown, perConnection: (intents: number) => unknown = () => d): void {
    const live = [...this.#connections].filter((c) => c.identified);
    if (live.length === 0) throw new Error('FakeDiscord: no identified gateway connection (wait for clientReady before dispatching)');
    // A sharded session gets its own guilds' events only, and (as shard 0) those of no guild, such as DMs.
    const guildId = (d as { guild_id?: unknown } | null)?.guild_id;
    for (const connection of live.filter((c) => this.#holds(c, typeof guildId === 'string' ? guildId : undefined))) {
      const data = perConnection(connection.intents);
      if (data !== undefined) this.#send(connection, { op: 0, t, s: ++connection.seq, d: data });
    }
  }

  /** INTERACTION_CREATE; the payload's id/token become valid for callbacks and webhooks. */
  dispatchInteraction<T extends APIInteraction>(payload: T): T {
    const state: InteractionState = {
      payload,
      dispatchedAt: Date.now(),
      acknowledged: false,
      originalMessageId: null,
      channelId: payload.channel?.id ?? payload.channel_id ?? this.channelId,
    };
    this.#interactions.set(payload.id, state);
    this.#interactionsByToken.set(payload.token, state);
    this.dispatch('INTERACTION_CREATE', payload);
    return payload;
  }

  /** MESSAGE_CREATE (stored, so the bot can fetch it), filtered by the client's intents like Discord does. */
  dispatchMessage(payload: APIMessage): APIMessage {
    this.addMessage(payload);
    const guildId = (payload as { guild_id?: string }).guild_id;
    // Guild MESSAGE_CREATE carries the author's member object without its user.
    const event = { ...payload, ...(guildId && !payload.webhook_id ? { member: { ...this.#member(payload.author), user: undefined } } : {}) };
    this.dispatch('MESSAGE_CREATE', event, (intents) => {
      if (!this.enforceIntents || !guildId) return event;
      if (!(intents & GatewayIntentBits.GuildMessages)) return undefined;
      const readable =
        intents & GatewayIntentBits.MessageContent ||
        payload.author.id === this.botUserId ||
        payload.mentions.some((u) => u.id === this.botUserId) ||
        payload.mention_roles.includes(this.botRoleId);
      return readable ? event : { ...event, content: '', embeds: [], attachments: [], components: [] };
    });
    return payload;
  }

  /** The shard Discord routes a guild's events to: `(guild_id >> 22) % count` (default: the recommended count). */
  shardOf(guildId: string, count = this.#shardCount): number {
    return Number((BigInt(guildId) >> 22n) % BigInt(count));
  }

  /** A guild (and its first channel) on `shard`: every shard has one when the fake was started with `shards`. */
  guildOnShard(shard: number): Place {
    const guild = this.guilds.find((g) => this.shardOf(g.id) === shard);
    if (!guild) throw new Error(`FakeDiscord: no guild on shard ${shard} (start it with { shards: ${shard + 1} } or more)`);
    return { guildId: guild.id, channelId: guild.channelIds[0] };
  }

  /** The main guild's text channels (see `channels` in StartOptions). */
  get channelIds(): string[] {
    return this.guilds[0].channelIds;
  }

  /** Every IDENTIFY the fake received, in order, with the shard it asked for (null: unsharded). */
  identifies(): { shard: [number, number] | null; at: number }[] {
    return this.gatewayFrames.filter((f) => f.op === 2).map((f) => ({ shard: (f.d as { shard?: [number, number] }).shard ?? null, at: f.at }));
  }

  #holds(connection: GatewayConnection, guildId: string | undefined): boolean {
    if (!connection.shard) return true;
    const [id, count] = connection.shard;
    return (guildId === undefined ? 0 : this.shardOf(guildId, count)) === id;
  }

  /**
   * One shard's outage: its socket is cut without a close frame (the client sees 1006), and the client's RESUME is
   * answered only when the outage ends (`ms`), so the shard stays down (resuming) until then while the other shards
   * carry on. Resolves when the shard has resumed.
   */
  async shardOutage(shard: number, ms: number): Promise<void> {
    const until = Date.now() + ms;
    this.#shardDownUntil.set(shard, until);
    const cut = [...this.#connections].filter((c) => c.shard?.[0] === shard);
    for (const connection of cut) connection.ws.terminate();
    while (Date.now() < until + 10_000 && !this.#closed.signal.aborted) {
      if (Date.now() >= until && [...this.#connections].some((c) => c.shard?.[0] === shard && c.identified && !cut.includes(c))) return;
      await sleep(20);
    }
    throw new Error(`FakeDiscord: shard ${shard} did not resume within 10 s of its outage`);
  }

  /** Closes every gateway socket with `code` (e.g. 4000 to make the client resume, 1000 to re-identify). */
  disconnectGateway(code = 4000): void {
    for (const connection of this.#connections) connection.ws.close(code, 'FakeDiscord disconnect');
  }

  /** True during a gateway outage (`gatewayOutage`): gateway connections are refused. REST and the CDN still answer. */
  get gatewayDown(): boolean {
    return this.#gatewayDownUntil > Date.now();
  }

  /**
   * A gateway outage: every gateway socket is cut without a close frame (as a network failure would; the client sees
   * 1006) and new connections are refused (HTTP 503 on the upgrade) for `ms`, or until `endGatewayOutage()`.
   * Sessions are kept, so the client can resume afterwards. Resolves when the outage ends.
   */
  gatewayOutage(ms = Number.POSITIVE_INFINITY): Promise<void> {
    this.#gatewayDownUntil = Date.now() + ms;
    for (const connection of this.#connections) connection.ws.terminate();
    return new Promise<void>((resolve) => {
      const check = () => (this.gatewayDown && !this.#closed.signal.aborted ? setTimeout(check, 20).unref() : resolve());
      check();
    });
  }

  endGatewayOutage(): void {
    this.#gatewayDownUntil = 0;
  }

  #onSocket(ws: WebSocket): void {
    const connection: GatewayConnection = { ws, seq: 0, identified: false, intents: 0, sessionId: null, shard: null };
    this.#connections.add(connection);
    ws.on('close', () => this.#connections.delete(connection));
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return ws.close(4002, 'Decode error'); // compression is off: frames are JSON text
      let frame: { op: number; d: unknown };
      try {
        frame = JSON.parse(raw.toString()) as { op: number; d: unknown };
      } catch {
        return ws.close(4002, 'Decode error');
      }
      this.gatewayFrames.push({ op: frame.op, d: frame.d, at: Date.now() });
      this.#onGatewayFrame(connection, frame);
    });
    this.#send(connection, { op: 10, d: { heartbeat_interval: this.#heartbeatIntervalMs } });
  }

  #onGatewayFrame(connection: GatewayConnection, { op, d }: { op: number; d: unknown }): void {
    switch (op) {
      case 1: // heartbeat
        this.#send(connection, { op: 11 });
        break;
      case 2: {
        const identify = d as { token?: string; intents?: number; shard?: [number, number] };
        if (this.identifyCloseCode !== null) return connection.ws.close(this.identifyCloseCode, 'Rejected by FakeDiscord');
        if (identify.token?.replace(/^Bot /, '') !== this.token) return connection.ws.close(4004, 'Authentication failed.');
        const shard = identify.shard ?? null;
        if (shard && !(shard[1] >= 1 && shard[0] >= 0 && shard[0] < shard[1])) return connection.ws.close(4010, 'Invalid shard.');
        if (this.#shardCount > 1 && (shard?.[1] ?? 1) < this.#shardCount) return connection.ws.close(4011, 'Sharding required.');
        connection.identified = true;
        connection.intents = identify.intents ?? 0;
        connection.shard = shard && shard[1] > 1 ? shard : null;
        connection.sessionId = randomBytes(16).toString('hex');
        this.#sessions.set(connection.sessionId, connection);
        const guilds = this.guilds.filter((g) => this.#holds(connection, g.id));
        this.#send(connection, {
          op: 0,
          t: 'READY',
          s: ++connection.seq,
          d: {
            v: 10,
            user: { ...this.botUser, verified: true, mfa_enabled: false },
            guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
            session_id: connection.sessionId,
            resume_gateway_url: this.gatewayUrl,
            shard: shard ?? [0, 1],
            application: { id: this.applicationId, flags: 0 },
          },
        });
        for (const g of guilds) this.#send(connection, { op: 0, t: 'GUILD_CREATE', s: ++connection.seq, d: this.#guildCreate(g) });
        break;
      }
      case 6: {
        const resume = d as { token?: string; session_id?: string; seq?: number };
        if (resume.token !== this.token) return connection.ws.close(4004, 'Authentication failed.');
        const previous = resume.session_id ? this.#sessions.get(resume.session_id) : undefined;
        if (!previous) return this.#send(connection, { op: 9, d: false });
        connection.shard = previous.shard;
        const resumed = () => {
          Object.assign(connection, { identified: true, intents: previous.intents, sessionId: previous.sessionId, seq: previous.seq });
          this.#sessions.set(resume.session_id!, connection);
          this.#send(connection, { op: 0, t: 'RESUMED', s: ++connection.seq, d: {} });
        };
        // During its shard's outage the session is answered only when the outage ends.
        const waitMs = (this.#shardDownUntil.get(previous.shard?.[0] ?? -1) ?? 0) - Date.now();
        if (waitMs > 0) setTimeout(resumed, waitMs).unref();
        else resumed();
        break;
      }
      case 8: {
        // guild.members.fetch() waits for this chunk.
        const request = d as { guild_id: string; nonce?: string };
        const members = this.members.map((u) => this.#member(u));
        this.#send(connection, {
          op: 0,
          t: 'GUILD_MEMBERS_CHUNK',
          s: ++connection.seq,
          d: { guild_id: request.guild_id, members, chunk_index: 0, chunk_count: 1, not_found: [], nonce: request.nonce },
        });
        break;
      }
      default: // presence (3), voice (4): accepted silently
        break;
    }
  }

  #send(connection: GatewayConnection, payload: unknown): void {
    if (connection.ws.readyState === connection.ws.OPEN) connection.ws.send(JSON.stringify(payload));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Guild fixtures

  get channel(): APITextChannel {
    return this.#channel(this.channelId);
  }

  /** A text channel of any of the fake's guilds. */
  #channel(channelId: string): APITextChannel {
    const guild = this.#guildOfChannel(channelId);
    const index = guild?.channelIds.indexOf(channelId) ?? 0;
    return {
      id: channelId,
      type: ChannelType.GuildText,
      guild_id: guild?.id ?? this.guildId,
      name: index === 0 ? 'dreams' : `chatter-${index}`,
      position: 0,
      permission_overwrites: [],
      topic: null,
      nsfw: false,
      last_message_id: null,
      rate_limit_per_user: 0,
      parent_id: null,
    };
  }

  get roles(): APIRole[] {
    const role = (id: string, name: string, permissions: bigint, extra: Partial<APIRole> = {}): APIRole => ({
      id,
      name,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      position: 0,
      permissions: permissions.toString(),
      managed: false,
      mentionable: false,
      flags: 0 as RoleFlags,
      ...extra,
    });
    return [
      role(this.guildId, '@everyone', EVERYONE_PERMISSIONS), // @everyone's id is the guild id
      role(this.botRoleId, this.botUser.username, BOT_PERMISSIONS, { managed: true, position: 1, tags: { bot_id: this.botUserId } }),
    ];
  }

  /** The bot, alice and bob: the guild's members. */
  get members(): APIUser[] {
    return [this.botUser, this.users.alice, this.users.bob];
  }

  /** A guild member object for any user (builders accept users that are not in the fixture). */
  #member(u: APIUser): APIGuildMember {
    return {
      user: u,
      nick: null,
      avatar: null,
      banner: null,
      roles: u.id === this.botUserId ? [this.botRoleId] : [],
      joined_at: '2024-01-01T00:00:00.000000+00:00',
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0 as GuildMemberFlags,
      pending: false,
      communication_disabled_until: null,
    };
  }

  #guildOfChannel(channelId: string): FakeGuild | undefined {
    return this.guilds.find((g) => g.channelIds.includes(channelId));
  }

  #guildCreate(guild: FakeGuild = this.guilds[0]) {
    const main = guild.id === this.guildId;
    return {
      id: guild.id,
      name: main ? 'Dream Lab' : `Dream Lab ${this.shardOf(guild.id)}`,
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: this.users.alice.id,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      premium_tier: 0,
      premium_subscription_count: 0,
      premium_progress_bar_enabled: false,
      preferred_locale: Locale.EnglishUS,
      features: [],
      system_channel_id: guild.channelIds[0],
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      vanity_url_code: null,
      max_members: 500_000,
      max_video_channel_users: 25,
      application_id: null,
      joined_at: '2024-01-01T00:00:00.000000+00:00',
      large: false,
      unavailable: false,
      member_count: 3,
      roles: main ? this.roles : this.roles.map((r) => (r.id === this.guildId ? { ...r, id: guild.id } : r)),
      emojis: [],
      stickers: [],
      channels: guild.channelIds.map((c) => this.#channel(c)),
      threads: [],
      members: this.members.map((u) => this.#member(u)),
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Payload builders

  /** A full message object; defaults: in the fake's channel, by alice, now, plain text. */
  makeMessage(partial: Partial<APIMessage> & { guild_id?: string } = {}): APIMessage & { guild_id?: string } {
    return {
      id: snowflake(),
      channel_id: this.channelId,
      guild_id: this.guildId,
      author: this.users.alice,
      content: '',
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      type: MessageType.Default,
      flags: 0 as MessageFlags,
      components: [],
      ...partial,
    };
  }

  /**
   * A user's message. `mentionsBot` puts the bot in `mentions` and, unless the content already has it, prefixes
   * `<@bot>`; `referencedMessage` makes it a reply (type 19 with `message_reference` and `referenced_message`).
   */
  message(opts: {
    author?: APIUser;
    content?: string;
    mentionsBot?: boolean;
    referencedMessage?: APIMessage;
    attachments?: FakeAttachmentInput[];
    embeds?: APIEmbed[];
    channelId?: string;
  }): APIMessage {
    const channelId = opts.channelId ?? this.channelId;
    const mention = `<@${this.botUserId}>`;
    let content = opts.content ?? '';
    if (opts.mentionsBot && !content.includes(mention) && !content.includes(`<@!${this.botUserId}>`)) content = `${mention} ${content}`.trimEnd();
    const id = snowflake();
    const ref = opts.referencedMessage;
    return this.makeMessage({
      id,
      channel_id: channelId,
      guild_id: this.#guildOfChannel(channelId)?.id ?? this.guildId,
      author: opts.author ?? this.users.alice,
      content,
      mentions: opts.mentionsBot ? [this.botUser] : [],
      attachments: (opts.attachments ?? []).map((a) => this.attachment(a, channelId)),
      embeds: opts.embeds ?? [],
      ...(ref
        ? {
            type: MessageType.Reply,
            message_reference: { type: MessageReferenceType.Default, message_id: ref.id, channel_id: ref.channel_id, guild_id: this.guildId },
            referenced_message: ref,
          }
        : {}),
    });
  }

  /** An attachment object; bytes are served from the fake CDN under `<channel>/<id>/<filename>`. */
  attachment(input: FakeAttachmentInput, channelId = this.channelId): APIAttachment {
    const id = snowflake();
    const contentType = input.contentType ?? guessContentType(input.filename);
    const url = input.bytes ? this.serveFile(`${channelId}/${id}/${input.filename}`, input.bytes, contentType) : input.url;
    if (!url) throw new Error('FakeDiscord.attachment needs bytes or a url');
    const size = input.bytes ? imageSize(input.bytes) : null;
    return {
      id,
      filename: input.filename,
      size: input.size ?? input.bytes?.length ?? 0,
      url,
      proxy_url: url,
      content_type: contentType,
      width: input.width !== undefined ? input.width : (size?.width ?? null),
      height: input.height !== undefined ? input.height : (size?.height ?? null),
    };
  }

  /** Fields every guild interaction carries; fresh id and token each time. */
  #interactionBase(u: APIUser, place?: Place) {
    const member: APIInteractionGuildMember = { ...this.#member(u), user: u, permissions: EVERYONE_PERMISSIONS.toString() };
    const { id, type, name, nsfw } = this.#channel(place?.channelId ?? this.channelId);
    const guild_id = place?.guildId ?? this.guildId;
    return {
      id: snowflake(),
      application_id: this.applicationId,
      token: `aW50ZXJhY3Rpb246${randomBytes(48).toString('base64url')}`,
      version: 1 as const,
      guild_id,
      guild: { id: guild_id, locale: Locale.EnglishUS, features: [] },
      channel: { id, type, name, guild_id, nsfw, permissions: (EVERYONE_PERMISSIONS | BOT_PERMISSIONS).toString() },
      channel_id: id,
      member,
      app_permissions: BOT_PERMISSIONS.toString(),
      locale: Locale.EnglishUS,
      guild_locale: Locale.EnglishUS,
      entitlements: [],
      authorizing_integration_owners: { [ApplicationIntegrationType.GuildInstall]: guild_id },
      context: InteractionContextType.Guild,
      attachment_size_limit: 10 * 1024 * 1024,
    };
  }

  /** The id of a command: the registered one if the bot registered it, else a stable made-up one. */
  commandId(name: string): string {
    for (const list of this.#commands.values()) {
      const found = list.find((c) => c.name === name);
      if (found) return found.id;
    }
    let id = this.#commandIds.get(name);
    if (!id) this.#commandIds.set(name, (id = snowflake()));
    return id;
  }

  /**
   * A slash command. Plain option values map to String / Integer / Number / Boolean options (pass `{ type, value }`
   * for others, or a raw option array); each `attachments` entry becomes an Attachment option whose value is the
   * attachment id, resolved in `data.resolved.attachments`.
   */
  chatInput(opts: {
    name: string;
    options?: Record<string, OptionValue> | APIApplicationCommandInteractionDataOption[];
    attachments?: Record<string, FakeAttachmentInput>;
    user?: APIUser;
    /** Another guild and channel than the main ones (e.g. `guildOnShard(2)`). */
    place?: Place;
  }): APIChatInputApplicationCommandInteraction {
    const options: APIApplicationCommandInteractionDataOption[] = Array.isArray(opts.options)
      ? [...opts.options]
      : Object.entries(opts.options ?? {}).map(([name, v]) => {
          if (typeof v === 'object') return { name, type: v.type, value: v.value } as APIApplicationCommandInteractionDataOption;
          const type =
            typeof v === 'string'
              ? ApplicationCommandOptionType.String
              : typeof v === 'boolean'
                ? ApplicationCommandOptionType.Boolean
                : Number.isInteger(v)
                  ? ApplicationCommandOptionType.Integer
                  : ApplicationCommandOptionType.Number;
          return { name, type, value: v } as APIApplicationCommandInteractionDataOption;
        });
    const attachments: Record<string, APIAttachment> = {};
    for (const [name, input] of Object.entries(opts.attachments ?? {})) {
      const attachment = { ...this.attachment(input), ephemeral: true }; // Discord marks command uploads ephemeral
      attachments[attachment.id] = attachment;
      options.push({ name, type: ApplicationCommandOptionType.Attachment, value: attachment.id });
    }
    return {
      ...this.#interactionBase(opts.user ?? this.users.alice, opts.place),
      type: InteractionType.ApplicationCommand,
      data: {
        id: this.commandId(opts.name),
        name: opts.name,
        type: ApplicationCommandType.ChatInput,
        options,
        ...(Object.keys(attachments).length ? { resolved: { attachments } } : {}),
      },
    };
  }

  /** A message context-menu command ("Apps → name") on `target`, which is also stored so the bot can fetch it. */
  messageContextMenu(opts: { name: string; target: APIMessage; user?: APIUser }): APIMessageApplicationCommandInteraction {
    this.addMessage(opts.target);
    return {
      ...this.#interactionBase(opts.user ?? this.users.alice),
      type: InteractionType.ApplicationCommand,
      data: {
        id: this.commandId(opts.name),
        name: opts.name,
        type: ApplicationCommandType.Message,
        target_id: opts.target.id,
        resolved: { messages: { [opts.target.id]: opts.target } },
      },
    };
  }

  /** A click on a button with `customId` on `message` (usually one the bot sent, from `messagesIn`). */
  button(opts: { customId: string; message: APIMessage; user?: APIUser; /** The member's permissions there (default: @everyone's). */ permissions?: bigint }): APIMessageComponentButtonInteraction {
    const channelId = opts.message.channel_id;
    const base = this.#interactionBase(opts.user ?? this.users.alice, { guildId: this.#guildOfChannel(channelId)?.id ?? this.guildId, channelId });
    return {
      ...base,
      ...(opts.permissions !== undefined ? { member: { ...base.member, permissions: opts.permissions.toString() } } : {}),
      type: InteractionType.MessageComponent,
      message: opts.message,
      data: { custom_id: opts.customId, component_type: ComponentType.Button },
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Stored state

  /** Stores a message so `GET /channels/:id/messages/:id` finds it. */
  addMessage(message: APIMessage): void {
    let channel = this.#messages.get(message.channel_id);
    if (!channel) this.#messages.set(message.channel_id, (channel = new Map()));
    channel.set(message.id, message);
  }

  /** Messages of a channel in creation order, including the bot's (ephemeral ones carry flag 64). */
  messagesIn(channelId = this.channelId): APIMessage[] {
    return [...(this.#messages.get(channelId)?.values() ?? [])];
  }

  getMessage(channelId: string, messageId: string): APIMessage | undefined {
    return this.#messages.get(channelId)?.get(messageId);
  }

  /** The message behind an interaction's `@original`, once it exists. */
  originalMessage(interactionId: string): APIMessage | undefined {
    const state = this.#interactions.get(interactionId);
    return state?.originalMessageId ? this.getMessage(state.channelId, state.originalMessageId) : undefined;
  }

  /** Commands as last bulk-overwritten / created: global, or for a guild. */
  registeredCommands(guildId?: string): APIApplicationCommand[] {
    return [...(this.#commands.get(guildId ?? 'global') ?? [])];
  }

  // -------------------------------------------------------------------------------------------------------------
  // Request helpers

  /** Requests that matched no route (answered 404). */
  unknownRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.unknownRoute);
  }

  /** `POST /interactions/:id/:token/callback` requests for an interaction. */
  interactionCallbacks(interactionId: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path.startsWith(`/interactions/${interactionId}/`));
  }

  /** Milliseconds from dispatching the interaction to its first callback request arriving; undefined if none yet. */
  ackLatencyMs(interactionId: string): number | undefined {
    const state = this.#interactions.get(interactionId);
    const first = this.interactionCallbacks(interactionId)[0];
    return state && first ? first.at - state.dispatchedAt : undefined;
  }

  /**
   * Resolves with the first answered request matching `predicate`. By default only requests answered after this
   * call count; pass `fromIndex` (e.g. `fake.requests.length` taken before acting, or 0) to include earlier ones.
   */
  waitForRequest(
    predicate: (request: RecordedRequest) => boolean,
    opts: number | { timeoutMs?: number; fromIndex?: number } = {},
  ): Promise<RecordedRequest> {
    const { timeoutMs = 10_000, fromIndex = this.requests.length } = typeof opts === 'number' ? { timeoutMs: opts } : opts;
    const earlier = this.requests.slice(fromIndex).find(predicate);
    if (earlier) return Promise.resolve(earlier);
    if (this.#closed.signal.aborted) return Promise.reject(new Error('FakeDiscord is closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          const seen = this.requests.slice(-10).map((r) => `${r.method} ${r.path} → ${r.status}`);
          reject(new Error(`FakeDiscord: no matching request within ${timeoutMs} ms; last requests:\n  ${seen.join('\n  ') || '(none)'}`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /**
   * Makes the next `times` requests matching `matcher` fail with `status`: 429 comes with `retry-after`,
   * `x-ratelimit-*` headers and `{ message, retry_after, global: false }`; others with a Discord-style error body.
   */
  failNext(matcher: RequestMatcher, status: number, opts: FailOptions = {}): void {
    this.#faults.push({ matcher, status, retryAfterSeconds: opts.retryAfterSeconds ?? 0.1, remaining: opts.times ?? 1 });
  }

  // -------------------------------------------------------------------------------------------------------------
  // HTTP

  async #onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${this.#port}`);
    if (url.pathname.startsWith('/attachments/')) return this.#serveCdn(req, res, url.pathname);
    // URL keeps percent-escapes in pathname, so '%40original' survives as sent.
    const api = /^\/api(?:\/v\d+)?(\/.*)$/.exec(url.pathname);
    if (!api) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    let parsed: { json?: unknown; files: RecordedFile[] } | null;
    try {
      parsed = await parseBody(await readBody(req), headers['content-type'] ?? '');
    } catch {
      parsed = null;
    }
    const { json, files } = parsed ?? { files: [] };
    const ctx: RequestContext = { method: req.method ?? 'GET', path: api[1], query: Object.fromEntries(url.searchParams), json, files, at };

    let reply: Reply | null = parsed ? null : error(400, 50109, 'The request body contains invalid JSON.');
    reply ??= this.#injectedFault(ctx) ?? this.#checkAuth(ctx, headers['authorization']);
    let unknownRoute = false;
    if (!reply) {
      reply = this.#route(ctx);
      if (!reply) {
        unknownRoute = true;
        reply = error(404, 0, '404: Not Found');
      }
    }
    sendJson(res, reply);
    const { method, path, query } = ctx;
    const recorded: RecordedRequest = { method, path, query, headers, json, files, at, status: reply.status, unknownRoute };
    this.requests.push(recorded);
    for (const waiter of this.#waiters) {
      if (!waiter.predicate(recorded)) continue;
      clearTimeout(waiter.timer);
      this.#waiters.delete(waiter);
      waiter.resolve(recorded);
    }
  }

  #injectedFault(ctx: RequestContext): Reply | null {
    const fault = this.#faults.find(
      ({ matcher }) =>
        (!matcher.method || matcher.method.toUpperCase() === ctx.method) &&
        (!matcher.pathIncludes || ctx.path.includes(matcher.pathIncludes)) &&
        (!matcher.fileName || ctx.files.some((f) => matcher.fileName!.test(f.filename))),
    );
    if (!fault) return null;
    if (--fault.remaining <= 0) this.#faults.splice(this.#faults.indexOf(fault), 1);
    if (fault.status !== 429) return error(fault.status, 0, `${fault.status}: Injected by FakeDiscord`);
    const seconds = String(fault.retryAfterSeconds);
    return {
      status: 429,
      body: { message: 'You are being rate limited.', retry_after: fault.retryAfterSeconds, global: false },
      headers: {
        'retry-after': seconds,
        'x-ratelimit-limit': '5',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String((Date.now() / 1000 + fault.retryAfterSeconds).toFixed(3)),
        'x-ratelimit-reset-after': seconds,
        // One bucket per route shape, so an injected 429 does not stall unrelated routes in discord.js' queues.
        'x-ratelimit-bucket': createHash('sha1').update(`${ctx.method} ${ctx.path.replace(/\d{17,20}/g, ':id')}`).digest('hex').slice(0, 16),
        'x-ratelimit-scope': 'user',
      },
    };
  }

  /** Interaction callbacks and interaction webhooks are authorised by their token; everything else by the bot token. */
  #checkAuth(ctx: RequestContext, authorization: string | undefined): Reply | null {
    const tokenRoute = /^\/interactions\/|^\/webhooks\/[^/]+\/[^/]+/.test(ctx.path) || ctx.path === '/gateway';
    if (authorization === undefined ? tokenRoute : authorization === `Bot ${this.token}`) return null;
    return error(401, 0, '401: Unauthorized');
  }

  #route(ctx: RequestContext): Reply | null {
    const { method, path } = ctx;
    // Captured segments, percent-decoded ('%40original' → '@original'); absent optional groups become ''.
    const m = (re: RegExp) => re.exec(path)?.slice(1).map((s) => decodeURIComponent(s ?? '')) ?? null;
    let p: string[] | null;

    if (method === 'GET' && path === '/gateway/bot') {
      const sessionStartLimit = { total: 1000, remaining: 1000, reset_after: 86_400_000, max_concurrency: this.#maxConcurrency };
      return ok({ url: this.gatewayUrl, shards: this.#shardCount, session_start_limit: sessionStartLimit });
    }
    if (method === 'GET' && path === '/gateway') return ok({ url: this.gatewayUrl });
    // @discordjs/rest sends '@me' percent-encoded, as Discord accepts it.
    if (method === 'GET' && decodeURIComponent(path) === '/users/@me') return ok(this.botUser);
    if (method === 'GET' && (p = m(/^\/users\/(\d+)$/))) {
      const found = this.members.find((u) => u.id === p![0]);
      return found ? ok(found) : error(404, 10013, 'Unknown User');
    }
    if (method === 'GET' && path === '/applications/@me') {
      return ok({
        id: this.applicationId,
        name: this.botUser.username,
        icon: null,
        description: '',
        bot_public: true,
        bot_require_code_grant: false,
        verify_key: '0'.repeat(64),
        flags: 0,
        bot: this.botUser,
        team: null,
      });
    }
    if ((p = m(/^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/))) return this.#commandsRoute(ctx, p[0], p[1] || undefined);

    if (method === 'POST' && (p = m(/^\/interactions\/(\d+)\/([^/]+)\/callback$/))) return this.#callback(ctx, p[0], p[1]);
    if ((p = m(/^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/([^/]+))?$/))) return this.#webhook(ctx, p[0], p[1], p[2] || undefined);

    if (method === 'GET' && (p = m(/^\/guilds\/(\d+)$/))) {
      const guild = this.guilds.find((g) => g.id === p![0]);
      return guild ? ok(this.#guildCreate(guild)) : error(404, 10004, 'Unknown Guild');
    }
    if (method === 'GET' && (p = m(/^\/guilds\/(\d+)\/members\/(\d+)$/))) {
      const member = p[0] === this.guildId ? this.members.find((u) => u.id === p![1]) : undefined;
      return member ? ok(this.#member(member)) : error(404, 10007, 'Unknown Member');
    }
    if ((p = m(/^\/channels\/(\d+)(\/.*)?$/))) return this.#channelRoute(ctx, p[0], p[1]);
    return null;
  }

  #commandsRoute(ctx: RequestContext, appId: string, guildId: string | undefined): Reply | null {
    if (appId !== this.applicationId) return error(403, 50001, 'Missing Access');
    if (guildId && guildId !== this.guildId) return error(403, 50001, 'Missing Access');
    const key = guildId ?? 'global';
    const current = this.#commands.get(key) ?? [];
    const toCommand = (raw: Record<string, unknown>): APIApplicationCommand => {
      const type = (raw.type as number | undefined) ?? ApplicationCommandType.ChatInput;
      // Discord keeps a command's id when a bulk overwrite keeps its name and type.
      const existing = current.find((c) => c.name === raw.name && c.type === type);
      return {
        default_member_permissions: null,
        description: '',
        ...(raw as object),
        id: existing?.id ?? snowflake(),
        application_id: this.applicationId,
        version: snowflake(),
        type,
        ...(guildId ? { guild_id: guildId } : {}),
      } as APIApplicationCommand;
    };
    if (ctx.method === 'GET') return ok(current);
    if (ctx.method === 'PUT') {
      const commands = ((ctx.json as Record<string, unknown>[] | undefined) ?? []).map(toCommand);
      this.#commands.set(key, commands);
      return ok(commands);
    }
    if (ctx.method === 'POST') {
      const command = toCommand(ctx.json as Record<string, unknown>);
      this.#commands.set(key, [...current.filter((c) => c.id !== command.id), command]);
      return { status: current.some((c) => c.id === command.id) ? 200 : 201, body: command };
    }
    return null;
  }

  #callback(ctx: RequestContext, interactionId: string, token: string): Reply {
    const state = this.#interactions.get(interactionId);
    if (!state || state.payload.token !== token) return error(404, 10062, 'Unknown interaction');
    if (this.ackDeadlineMs !== null && ctx.at - state.dispatchedAt > this.ackDeadlineMs) return error(404, 10062, 'Unknown interaction');
    if (state.acknowledged) return error(400, 40060, 'Interaction has already been acknowledged.');
    const body = (ctx.json ?? {}) as { type?: number; data?: MessageBody };
    const data = body.data ?? {};
    const interaction = state.payload;
    const componentMessage = interaction.type === InteractionType.MessageComponent ? interaction.message : undefined;
    const webhookFields = this.#webhookFields(interaction);
    switch (body.type) {
      case InteractionResponseType.ChannelMessageWithSource:
        state.originalMessageId = this.#store(this.#compose(state.channelId, data, ctx.files, null, webhookFields)).id;
        break;
      case InteractionResponseType.DeferredChannelMessageWithSource: {
        const flags = MessageFlags.Loading | ((data.flags ?? 0) & MessageFlags.Ephemeral);
        state.originalMessageId = this.#store(this.#compose(state.channelId, { flags }, [], null, webhookFields)).id;
        break;
      }
      case InteractionResponseType.DeferredMessageUpdate:
      case InteractionResponseType.UpdateMessage: {
        if (!componentMessage) return error(400, 50035, 'Invalid Form Body');
        const base = this.getMessage(componentMessage.channel_id, componentMessage.id) ?? componentMessage;
        if (body.type === InteractionResponseType.UpdateMessage) this.#store(this.#compose(base.channel_id, data, ctx.files, base, {}));
        state.originalMessageId = base.id;
        break;
      }
      case InteractionResponseType.ApplicationCommandAutocompleteResult:
      case InteractionResponseType.Modal:
      case InteractionResponseType.LaunchActivity:
        break;
      default:
        return error(400, 50035, 'Invalid Form Body');
    }
    state.acknowledged = true;
    if (ctx.query.with_response !== 'true') return { status: 204 };
    const message = this.originalMessage(interactionId);
    return ok({
      interaction: {
        id: interaction.id,
        type: interaction.type,
        response_message_id: message?.id,
        response_message_loading: Boolean((message?.flags ?? 0) & MessageFlags.Loading),
        response_message_ephemeral: Boolean((message?.flags ?? 0) & MessageFlags.Ephemeral),
      },
      resource: { type: body.type, ...(message && body.type !== InteractionResponseType.DeferredMessageUpdate ? { message } : {}) },
    });
  }

  #webhook(ctx: RequestContext, appId: string, token: string, messageId: string | undefined): Reply | null {
    const state = this.#interactionsByToken.get(token);
    // Discord only opens an interaction's webhook once the interaction was acknowledged.
    if (appId !== this.applicationId || !state || !state.acknowledged) return unknownWebhook();
    const fields = this.#webhookFields(state.payload);
    if (messageId === undefined) {
      if (ctx.method !== 'POST') return null;
      const message = this.#store(this.#compose(state.channelId, (ctx.json ?? {}) as MessageBody, ctx.files, null, fields));
      return ctx.query.wait === 'false' || ctx.query.wait === undefined ? { status: 204 } : ok(message);
    }
    const id = messageId === '@original' ? state.originalMessageId : messageId;
    const message = id ? this.getMessage(state.channelId, id) : undefined;
    if (!message) return unknownMessage();
    if (ctx.method === 'GET') return ok(message);
    if (ctx.method === 'PATCH') return ok(this.#store(this.#compose(state.channelId, (ctx.json ?? {}) as MessageBody, ctx.files, message, {})));
    if (ctx.method === 'DELETE') {
      this.#messages.get(state.channelId)?.delete(message.id);
      return { status: 204 };
    }
    return null;
  }

  #channelRoute(ctx: RequestContext, channelId: string, rest: string): Reply | null {
    const channel = this.#messages.get(channelId);
    if (!channel) return unknownChannel();
    const { method } = ctx;
    if (rest === '' && method === 'GET') return this.#guildOfChannel(channelId) ? ok(this.#channel(channelId)) : unknownChannel();
    if (rest === '/typing' && method === 'POST') return { status: 204 };
    if (rest === '/messages' && method === 'POST') {
      const body = (ctx.json ?? {}) as MessageBody;
      const ref = body.message_reference;
      const extra: Partial<APIMessage> = {};
      if (ref?.message_id) {
        const target = this.getMessage(ref.channel_id ?? channelId, ref.message_id);
        if (!target && (ref as { fail_if_not_exists?: boolean }).fail_if_not_exists !== false) return error(400, 50035, 'Invalid Form Body');
        Object.assign(extra, {
          type: MessageType.Reply,
          message_reference: {
            type: MessageReferenceType.Default,
            message_id: ref.message_id,
            channel_id: ref.channel_id ?? channelId,
            guild_id: this.guildId,
          },
          referenced_message: target ?? null,
        });
      }
      return ok(this.#store(this.#compose(channelId, body, ctx.files, null, extra)));
    }
    if (method === 'GET' && rest === '/messages') {
      const limit = Number(ctx.query.limit ?? 50);
      return ok(this.messagesIn(channelId).reverse().slice(0, limit)); // newest first, like Discord
    }
    const p = /^\/messages\/(\d+)(\/.*)?$/.exec(rest);
    if (!p) return null;
    const message = channel.get(p[1]);
    if (!message) return unknownMessage();
    if (p[2] === undefined) {
      if (method === 'GET') return ok(message);
      if (method === 'PATCH') {
        if (message.author.id !== this.botUserId) return error(403, 50005, 'Cannot edit a message authored by another user');
        return ok(this.#store(this.#compose(channelId, (ctx.json ?? {}) as MessageBody, ctx.files, message, {})));
      }
      if (method === 'DELETE') {
        channel.delete(message.id);
        return { status: 204 };
      }
      return null;
    }
    if (/^\/reactions\/[^/]+\/@me$|^\/reactions\/[^/]+\/%40me$/.test(p[2]) && (method === 'PUT' || method === 'DELETE')) return { status: 204 };
    return null;
  }

  /** Fields of a message sent through an interaction's webhook. */
  #webhookFields(interaction: APIInteraction): Partial<APIMessage> {
    const u = interaction.member?.user ?? interaction.user;
    return {
      webhook_id: this.applicationId,
      application_id: this.applicationId,
      ...(u
        ? {
            interaction_metadata: {
              id: interaction.id,
              type: interaction.type,
              user: u,
              authorizing_integration_owners: interaction.authorizing_integration_owners,
            } as APIMessage['interaction_metadata'],
          }
        : {}),
    };
  }

  #store(message: APIMessage): APIMessage {
    this.addMessage(message);
    return message;
  }

  /**
   * Builds a new message (base null) or an edit of `base` from a create/edit body: uploaded `files[n]` become
   * attachments served from the CDN, kept attachments are those listed by id, `attachment://` embed images resolve.
   */
  #compose(channelId: string, body: MessageBody, files: RecordedFile[], base: APIMessage | null, extra: Partial<APIMessage>): APIMessage {
    const uploads = new Map(files.map((f) => [/^files\[(\d+)\]$/.exec(f.name)?.[1] ?? f.name, f]));
    const upload = (file: RecordedFile, filename = file.filename, description?: string) => ({
      ...this.attachment({ filename, bytes: file.bytes, contentType: file.contentType }, channelId),
      ...(description ? { description } : {}),
    });
    let attachments: APIAttachment[];
    if (body.attachments) {
      attachments = body.attachments.flatMap((a) => {
        const file = uploads.get(String(a.id));
        if (file) {
          uploads.delete(String(a.id));
          return [upload(file, a.filename ?? file.filename, a.description)];
        }
        const kept = base?.attachments.find((x) => x.id === String(a.id));
        return kept ? [kept] : [];
      });
    } else {
      attachments = [...(base?.attachments ?? [])];
    }
    for (const file of uploads.values()) attachments.push(upload(file));

    // Discord rewrites `attachment://name` embed media to the uploaded attachment's CDN url.
    const resolveEmbedMedia = <T extends { url: string }>(media: T): T => {
      if (!media.url.startsWith('attachment://')) return media;
      const found = attachments.find((a) => a.filename === media.url.slice('attachment://'.length));
      if (!found) return media;
      return { ...media, url: found.url, proxy_url: found.proxy_url, width: found.width ?? undefined, height: found.height ?? undefined };
    };
    const message: APIMessage = base
      ? { ...base, ...extra }
      : this.makeMessage({ channel_id: channelId, author: this.botUser, content: '', ...extra });
    if (body.content !== undefined) message.content = body.content ?? '';
    if (body.embeds !== undefined) {
      message.embeds = (body.embeds ?? []).map((e) => {
        const embed: APIEmbed = { type: EmbedType.Rich, ...e };
        if (e.image) embed.image = resolveEmbedMedia(e.image);
        if (e.thumbnail) embed.thumbnail = resolveEmbedMedia(e.thumbnail);
        return embed;
      });
    }
    if (body.components !== undefined) message.components = body.components ?? [];
    if (body.tts !== undefined) message.tts = body.tts;
    message.attachments = attachments;
    if (base) {
      // Finishing a deferred reply is not an edit; the Loading flag goes away.
      if (!((base.flags ?? 0) & MessageFlags.Loading)) message.edited_timestamp = new Date().toISOString();
      message.flags = ((base.flags ?? 0) & ~MessageFlags.Loading) | ((body.flags ?? 0) & MessageFlags.SuppressEmbeds);
    } else {
      message.flags = body.flags ?? 0;
    }
    const mentioned = [...message.content.matchAll(/<@!?(\d+)>/g)].map((x) => x[1]);
    message.mentions = this.members.filter((u) => mentioned.includes(u.id));
    return message;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP utilities

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function sendJson(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers).end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** JSON bodies, and multipart bodies via the platform's own form-data parser (undici's, behind `Response`). */
async function parseBody(body: Buffer, contentType: string): Promise<{ json?: unknown; files: RecordedFile[] }> {
  if (body.length === 0) return { files: [] };
  if (contentType.startsWith('application/json')) return { json: JSON.parse(body.toString('utf8')), files: [] };
  if (!contentType.startsWith('multipart/form-data')) return { files: [] };
  const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  let json: unknown;
  const files: RecordedFile[] = [];
  for (const [name, value] of form) {
    if (typeof value === 'string') {
      if (name === 'payload_json') json = JSON.parse(value);
    } else {
      const bytes = Buffer.from(await value.arrayBuffer());
      files.push({ name, filename: value.name, contentType: value.type || 'application/octet-stream', bytes });
    }
  }
  return { json, files };
}

function guessContentType(filename: string): string {
  const ext = filename.toLowerCase().split('.').pop();
  const types: Record<string, string> = {
    png: 'image/png',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    gif: 'image/gif',
    webp: 'image/webp',
    txt: 'text/plain; charset=utf-8',
  };
  return types[ext ?? ''] ?? 'application/octet-stream';
}
