import { MessageFlags, type Message, type MessageEditOptions, type RepliableInteraction } from 'discord.js';

/** What a job shows: text, buttons, files and embeds, as discord.js message options. */
export type StatusView = Pick<MessageEditOptions, 'content' | 'embeds' | 'components' | 'files' | 'attachments'>;

/** Where a job's status and result go, and how its requester is told "no". */
export interface ReplyTarget {
  /** Shows or updates the job's public message; `final` marks the result or the end of the job. */
  show(view: StatusView, final?: boolean): Promise<void>;
  /** One sentence for the requester, privately where Discord allows it. Ends the job's message. */
  refuse(sentence: string): Promise<void>;
  /** Largest upload the destination accepts, in bytes. */
  readonly uploadLimit: number;
}

export const DEFAULT_UPLOAD_LIMIT = 10 * 2 ** 20;
/** Interaction tokens last 15 minutes; keep a margin for the upload itself. */
const TOKEN_LIFETIME_MS = 14 * 60 * 1000;

/** A deferred slash command, context menu or button: the job's message is the interaction's reply. */
export class InteractionTarget implements ReplyTarget {
  private replyId: string | null = null;
  readonly uploadLimit: number;

  constructor(private readonly interaction: RepliableInteraction) {
    this.uploadLimit = interaction.attachmentSizeLimit || DEFAULT_UPLOAD_LIMIT;
  }

  private tokenAlive(): boolean {
    return Date.now() - this.interaction.createdTimestamp < TOKEN_LIFETIME_MS;
  }

  async show(view: StatusView, final = false): Promise<void> {
    if (this.tokenAlive()) {
      const reply = await this.interaction.editReply(view);
      this.replyId = reply.id;
      return;
    }
    // The token is gone: progress can no longer be shown; the outcome is posted as a new channel message
    // replying to the job's message, so the requester is notified.
    if (!final) return;
    const channel = this.interaction.channel;
    if (!channel?.isSendable()) throw new Error('The interaction expired and its channel cannot be written to.');
    const { attachments: _drop, ...rest } = view;
    await channel.send({
      ...rest,
      content: rest.content ?? undefined,
      allowedMentions: { users: [this.interaction.user.id] },
      reply: this.replyId ? { messageReference: this.replyId, failIfNotExists: false } : undefined,
    });
  }

  async refuse(sentence: string): Promise<void> {
    if (!this.tokenAlive()) {
      await this.show({ content: `<@${this.interaction.user.id}> ${sentence}`, components: [], embeds: [], attachments: [] }, true);
      return;
    }
    // The deferred reply is public; replace it by a message only the requester sees.
    await this.interaction.deleteReply().catch(() => undefined);
    await this.interaction.followUp({ content: sentence, flags: MessageFlags.Ephemeral });
  }
}

/** A message that mentioned the bot: the job's message is a reply to it in the same channel or thread. */
export class MessageTarget implements ReplyTarget {
  private reply: Message | null = null;
  readonly uploadLimit = DEFAULT_UPLOAD_LIMIT;

  constructor(private readonly message: Message) {}

  async show(view: StatusView): Promise<void> {
    if (this.reply) {
      this.reply = await this.reply.edit(view);
      return;
    }
    const { attachments: _drop, ...rest } = view;
    this.reply = await this.message.reply({ ...rest, content: rest.content ?? undefined, allowedMentions: { repliedUser: false } });
  }

  async refuse(sentence: string): Promise<void> {
    // Messages cannot be ephemeral: answer in the thread of the request, without pinging.
    await this.show({ content: sentence, components: [], embeds: [], attachments: [] });
  }
}
