import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
import { formatDuration } from '../cli/progress-bar.ts';
import type { DreamProgress } from '../engine/dream.ts';
import type { Refusal } from '../queue/dream-queue.ts';
import { CustomId } from './custom-ids.ts';

export function cancelRow(jobId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId(CustomId.cancel(jobId)).setLabel('Cancel').setStyle(ButtonStyle.Secondary));
}

export function resultRow(): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(CustomId.deeper).setLabel('Dream deeper').setStyle(ButtonStyle.Primary),
    new ButtonBuilder().setCustomId(CustomId.reroll).setLabel('Reroll').setStyle(ButtonStyle.Secondary),
  );
}

export function waitingText(position: number, etaSeconds: number): string {
  const when = etaSeconds <= 0 ? 'starting now' : `starts in ~${formatDuration(etaSeconds)}`;
  return `⏳ In the queue: position ${position} (${when}).`;
}

export function progressText(p: DreamProgress): string {
  const pct = Math.floor(p.fraction * 100);
  return `🌀 Dreaming… octave ${p.octave}/${p.octaves}, step ${p.step}/${p.steps} · ${pct}% · ~${formatDuration(p.etaSeconds)} left`;
}

export function refusalText(r: Refusal): string {
  switch (r.kind) {
    case 'queue_full':
      return `The queue is full (${r.waiting} waiting); try again in ~${Math.max(1, Math.round(r.etaSeconds / 60))} min.`;
    case 'user_limit':
      return `You already have ${r.limit} dream${r.limit > 1 ? 's' : ''} in the queue; wait for one to finish.`;
    case 'closed':
      return 'The bot is restarting and not taking dreams right now; try again in a minute.';
  }
}
