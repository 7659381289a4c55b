import { ActionRowBuilder, ButtonBuilder, ButtonStyle, ComponentType } from 'discord.js';
import type { APIActionRowComponent, APIButtonComponent } from 'discord.js';
import type { DreamProgress, ZoomProgress } from '../engine/index.ts';
import { messagesFor, type Catalog } from '../i18n/index.ts';
import { CustomId } from './custom-ids.ts';
import type { JobView, ReplyAddress } from './reply-target.ts';

type Row = APIActionRowComponent<APIButtonComponent>;

/** The words of a job's messages: the language of whoever asked (their locale, or the server's). */
export const wordsFor = (reply: ReplyAddress): Catalog => messagesFor(reply.locale);

export function cancelRow(t: Catalog, jobId: string): Row {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId(CustomId.cancel(jobId)).setLabel(t.buttons.cancel).setStyle(ButtonStyle.Secondary)).toJSON();
}

export function resultRow(t: Catalog): Row {
  return new ActionRowBuilder<ButtonBuilder>()
    .addComponents(
      new ButtonBuilder().setCustomId(CustomId.deeper).setLabel(t.buttons.deeper).setStyle(ButtonStyle.Primary),
      new ButtonBuilder().setCustomId(CustomId.reroll).setLabel(t.buttons.reroll).setStyle(ButtonStyle.Secondary),
      new ButtonBuilder().setCustomId(CustomId.explain).setLabel(t.buttons.explain).setStyle(ButtonStyle.Secondary),
      new ButtonBuilder().setCustomId(CustomId.animate).setLabel(t.buttons.animate).setStyle(ButtonStyle.Secondary),
    )
    .toJSON();
}

export function waitingView(t: Catalog, jobId: string, position: number, etaSeconds: number): JobView {
  return { content: t.queue.waiting(position, etaSeconds), components: [cancelRow(t, jobId)] };
}

export function progressView(t: Catalog, jobId: string, p: DreamProgress, previewJpeg?: Buffer): JobView {
  const view: JobView = { content: t.queue.dreaming(p), components: [cancelRow(t, jobId)] };
  return previewJpeg ? { ...view, files: [{ name: 'preview.jpg', data: previewJpeg }] } : view;
}

/** "🎞️ Animating… frame 5/36 · 14% · ~1m left", with Cancel and, every few frames, a still of the last one. */
export function zoomProgressView(t: Catalog, jobId: string, p: ZoomProgress, previewJpeg?: Buffer): JobView {
  const view: JobView = { content: t.queue.animating({ ...p, etaSeconds: p.fraction > 0 ? p.etaSeconds : undefined }), components: [cancelRow(t, jobId)] };
  return previewJpeg ? { ...view, files: [{ name: 'preview.jpg', data: previewJpeg }] } : view;
}

/** The end of a job without a result: cancelled, not run, failed. */
export function endView(content: string): JobView {
  return { content, clearFiles: true };
}

/**
 * A result's view with a 🗑 Delete button (for its requester, or a member with Manage Messages): added to every
 * result, whatever its kind, on its last row of buttons when there is room (Discord allows five), else on a new row.
 */
export function withDelete(t: Catalog, view: JobView, requesterId: string): JobView {
  const button = new ButtonBuilder().setCustomId(CustomId.delete(requesterId)).setEmoji('🗑️').setLabel(t.buttons.delete).setStyle(ButtonStyle.Secondary).toJSON();
  const rows = view.components ?? [];
  const last = rows.at(-1);
  const components: Row[] = last && last.components.length < 5 ? [...rows.slice(0, -1), { ...last, components: [...last.components, button] }] : [...rows, { type: ComponentType.ActionRow, components: [button] }];
  return { ...view, components };
}
