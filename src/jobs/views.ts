import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
import type { APIActionRowComponent, APIButtonComponent } from 'discord.js';
import type { DreamProgress, ZoomProgress } from '../engine/index.ts';
import { formatDuration } from '../format.ts';
import { CustomId } from './custom-ids.ts';
import type { JobView } from './reply-target.ts';

type Row = APIActionRowComponent<APIButtonComponent>;

export function cancelRow(jobId: string): Row {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId(CustomId.cancel(jobId)).setLabel('Cancel').setStyle(ButtonStyle.Secondary)).toJSON();
}

export function resultRow(): Row {
  return new ActionRowBuilder<ButtonBuilder>()
    .addComponents(
      new ButtonBuilder().setCustomId(CustomId.deeper).setLabel('Dream deeper').setStyle(ButtonStyle.Primary),
      new ButtonBuilder().setCustomId(CustomId.reroll).setLabel('Reroll').setStyle(ButtonStyle.Secondary),
      new ButtonBuilder().setCustomId(CustomId.explain).setLabel('Explain').setStyle(ButtonStyle.Secondary),
      new ButtonBuilder().setCustomId(CustomId.animate).setLabel('Animate').setStyle(ButtonStyle.Secondary),
    )
    .toJSON();
}

export function waitingView(jobId: string, position: number, etaSeconds: number): JobView {
  const when = etaSeconds <= 0 ? 'starting now' : `starts in ~${formatDuration(etaSeconds)}`;
  return { content: `⏳ In the queue: position ${position} (${when}).`, components: [cancelRow(jobId)] };
}

export function progressView(jobId: string, p: DreamProgress, previewJpeg?: Buffer): JobView {
  const pct = Math.floor(p.fraction * 100);
  const view: JobView = {
    content: `🌀 Dreaming… octave ${p.octave}/${p.octaves}, step ${p.step}/${p.steps} · ${pct}% · ~${formatDuration(p.etaSeconds)} left`,
    components: [cancelRow(jobId)],
  };
  return previewJpeg ? { ...view, files: [{ name: 'preview.jpg', data: previewJpeg }] } : view;
}

/** "🎞️ Animating… frame 5/36 · 14% · ~1m left", with Cancel and, every few frames, a still of the last one. */
export function zoomProgressView(jobId: string, p: ZoomProgress, previewJpeg?: Buffer): JobView {
  const pct = Math.floor(p.fraction * 100);
  const left = p.fraction > 0 ? ` · ~${formatDuration(p.etaSeconds)} left` : '';
  const view: JobView = { content: `🎞️ Animating… frame ${p.frame}/${p.frames} · ${pct}%${left}`, components: [cancelRow(jobId)] };
  return previewJpeg ? { ...view, files: [{ name: 'preview.jpg', data: previewJpeg }] } : view;
}

/** The end of a job without a result: cancelled, not run, failed. */
export function endView(content: string): JobView {
  return { content, clearFiles: true };
}

export const END_TEXT = {
  cancelled: '🚫 Cancelled.',
  crashed: '⚠️ The dream worker stopped unexpectedly while dreaming this image. Please try again.',
  failed: '⚠️ Something went wrong while dreaming this image, even at a smaller size. Please try again.',
  notRun: '⚠️ The bot is restarting, so this dream was not run. Please ask again in a minute.',
  diedTwice: '⚠️ The dream workers stopped unexpectedly twice while dreaming this image, so I gave up. Please try again.',
} as const;
