import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
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
