import { Routes, type REST, type RESTPatchAPIWebhookWithTokenMessageJSONBody } from 'discord.js';
import type { APIActionRowComponent, APIButtonComponent, APIEmbed, APIMessage } from 'discord.js';

/**
 * What a job shows, as plain Discord API data, so it can be built in one process and sent from another
 * (the bot, or a queue worker that only has the REST API).
 */
export interface JobView {
  content: string;
  embeds?: APIEmbed[];
  components?: APIActionRowComponent<APIButtonComponent>[];
  /** New files; they replace the message's previous attachments. */
  files?: { name: string; data: Buffer }[];
  /** Remove the message's previous attachments (e.g. the preview) without adding files. */
  clearFiles?: boolean;
}

/** What a server's /settings decided for one job, fixed when it was accepted (so every worker obeys the same). */
export interface JobTerms {
  /** The job's history row (its end is written there, by whichever process runs it). */
  historyId?: string;
  /** This server's safety policy, overriding NSFW_POLICY. */
  nsfwPolicy?: 'block' | 'spoiler' | 'off';
}

/** The server a job was asked in (absent in DMs), and its terms; shared by both kinds of address. */
export interface ReplyPlace {
  guildId?: string;
  terms?: JobTerms;
}

/** Where a job answers, as data that survives a trip through Redis. */
export type ReplyAddress = ReplyPlace &
  (
    | {
        kind: 'interaction';
        applicationId: string;
        token: string;
        /** Interaction creation time (ms): its token lasts 15 minutes from then. */
        createdAt: number;
        channelId: string;
        userId: string;
        uploadLimit: number;
        /** The channel is age-restricted: inputs are not screened there. */
        ageRestricted?: boolean;
        /** The member's Discord locale (`interaction.locale`): the job answers in its language. */
        locale?: string;
        /** The message that shows the job, once Discord has said its id (its link goes in the history). */
        messageId?: string;
      }
    | {
        kind: 'message';
        channelId: string;
        /** The message that asked (mentioned the bot). */
        requestMessageId: string;
        /** The bot's reply that shows the job, once it exists. */
        statusMessageId?: string;
        ageRestricted?: boolean;
        /** The language the message was written in, else the server's preferred locale: the job answers in it. */
        locale?: string;
      }
  );

/** A link to the message that shows a job (its result), once it exists. */
export function messageLink(a: ReplyAddress): string | undefined {
  const id = a.kind === 'message' ? a.statusMessageId : a.messageId;
  return id && `https://discord.com/channels/${a.guildId ?? '@me'}/${a.channelId}/${id}`;
}

/** Where a job's status and result go, and how its requester is told "no". */
export interface ReplyTarget {
  /** Shows or updates the job's public message; `final` marks the result or the end of the job. */
  show(view: JobView, final?: boolean): Promise<void>;
  /** One sentence for the requester, privately where Discord allows it. */
  refuse(sentence: string): Promise<void>;
  /** Largest upload the destination accepts, in bytes. */
  readonly uploadLimit: number;
}

export const DEFAULT_UPLOAD_LIMIT = 10 * 2 ** 20;
/** Interaction tokens last 15 minutes; keep a margin for the upload itself. */
const TOKEN_LIFETIME_MS = 14 * 60 * 1000;

function body(view: JobView): RESTPatchAPIWebhookWithTokenMessageJSONBody {
  const out: RESTPatchAPIWebhookWithTokenMessageJSONBody = { content: view.content, embeds: view.embeds ?? [], components: view.components ?? [] };
  if (view.files?.length) out.attachments = view.files.map((f, i) => ({ id: i, filename: f.name }));
  else if (view.clearFiles) out.attachments = [];
  return out;
}

/** The view with its files marked as spoilers (`SPOILER_` names) and its embeds without images. */
function spoilered(view: JobView): JobView {
  return {
    ...view,
    files: view.files?.map((f) => ({ ...f, name: f.name.startsWith('SPOILER_') ? f.name : `SPOILER_${f.name}` })),
    embeds: view.embeds?.map(({ image: _image, thumbnail: _thumbnail, ...embed }) => embed),
  };
}

const files = (view: JobView) => view.files?.map((f) => ({ name: f.name, data: f.data }));

/** Answers through Discord's REST API only: interaction webhooks, or channel messages. */
export class RestReplyTarget implements ReplyTarget {
  readonly uploadLimit: number;
  private originalId: string | null = null;

  constructor(
    private readonly rest: REST,
    readonly address: ReplyAddress,
  ) {
    this.uploadLimit = address.kind === 'interaction' ? address.uploadLimit || DEFAULT_UPLOAD_LIMIT : DEFAULT_UPLOAD_LIMIT;
  }

  private tokenAlive(): boolean {
    return this.address.kind === 'interaction' && Date.now() - this.address.createdAt < TOKEN_LIFETIME_MS;
  }

  /** Post every file (previews and results) as a spoiler, and no embed image (Discord would not blur it). */
  spoiler = false;

  async show(shown: JobView, final = false): Promise<void> {
    const view = this.spoiler ? spoilered(shown) : shown;
    const a = this.address;
    if (a.kind === 'message') {
      if (a.statusMessageId) {
        await this.rest.patch(Routes.channelMessage(a.channelId, a.statusMessageId), { body: body(view), files: files(view) });
        return;
      }
      const { attachments: _none, ...first } = body(view);
      const sent = (await this.rest.post(Routes.channelMessages(a.channelId), {
        body: {
          ...first,
          attachments: view.files?.map((f, i) => ({ id: i, filename: f.name })),
          message_reference: { message_id: a.requestMessageId, fail_if_not_exists: false },
          allowed_mentions: { parse: [], replied_user: false },
        },
        files: files(view),
      })) as APIMessage;
      a.statusMessageId = sent.id;
      return;
    }
    if (this.tokenAlive()) {
      const edited = (await this.rest.patch(Routes.webhookMessage(a.applicationId, a.token, '@original'), { body: body(view), files: files(view), auth: false })) as APIMessage;
      this.originalId = edited.id;
      a.messageId = edited.id;
      return;
    }
    // The token is gone: progress can no longer be shown; the outcome becomes a new channel message replying to
    // the job's message, so the requester is notified.
    if (!final) return;
    const sent = (await this.rest.post(Routes.channelMessages(a.channelId), {
      body: {
        ...body(view),
        attachments: view.files?.map((f, i) => ({ id: i, filename: f.name })),
        allowed_mentions: { users: [a.userId] },
        message_reference: this.originalId ? { message_id: this.originalId, fail_if_not_exists: false } : undefined,
      },
      files: files(view),
    })) as APIMessage;
    a.messageId = sent.id;
  }

  async refuse(sentence: string): Promise<void> {
    const a = this.address;
    if (a.kind === 'message' || !this.tokenAlive()) {
      const who = a.kind === 'interaction' ? `<@${a.userId}> ` : '';
      await this.show({ content: `${who}${sentence}`, clearFiles: true }, true);
      return;
    }
    // The deferred reply is public; replace it by a message only the requester sees.
    await this.rest.delete(Routes.webhookMessage(a.applicationId, a.token, '@original'), { auth: false }).catch(() => undefined);
    await this.rest.post(Routes.webhook(a.applicationId, a.token), { body: { content: sentence, flags: 64 }, auth: false });
  }
}

/** The address of a deferred interaction's reply (slash command, context menu, button). */
export function interactionAddress(interaction: {
  applicationId: string;
  token: string;
  createdTimestamp: number;
  channelId: string | null;
  channel?: unknown;
  user: { id: string };
  attachmentSizeLimit?: number;
  locale?: string;
  guildId?: string | null;
}): ReplyAddress {
  return {
    kind: 'interaction',
    guildId: interaction.guildId ?? undefined,
    applicationId: interaction.applicationId,
    token: interaction.token,
    createdAt: interaction.createdTimestamp,
    channelId: interaction.channelId ?? '',
    userId: interaction.user.id,
    uploadLimit: interaction.attachmentSizeLimit || DEFAULT_UPLOAD_LIMIT,
    ageRestricted: ageRestricted(interaction.channel),
    locale: interaction.locale,
  };
}

/** The address of a reply to a message that mentioned the bot, answered in `locale` (default: the server's). */
export function messageAddress(message: { channelId: string; id: string; channel?: unknown; guild?: { preferredLocale?: string } | null; guildId?: string | null }, locale = message.guild?.preferredLocale): ReplyAddress {
  return { kind: 'message', guildId: message.guildId ?? undefined, channelId: message.channelId, requestMessageId: message.id, ageRestricted: ageRestricted(message.channel), locale };
}

/** Whether a channel is age-restricted (Discord's "NSFW" channel setting); threads take their parent's. */
function ageRestricted(channel: unknown): boolean {
  const c = channel as { nsfw?: unknown; parent?: { nsfw?: unknown } | null } | null | undefined;
  return c?.nsfw === true || c?.parent?.nsfw === true;
}
