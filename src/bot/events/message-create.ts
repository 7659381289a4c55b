import type { Message } from 'discord.js';
import { INTENSITIES, type Intensity } from '../../engine/light.ts';
import { LANGUAGES, localeOfText, messagesFor } from '../../i18n/index.ts';
import { firstImageOf, messageAddress, type ImageRef } from '../../jobs/index.ts';
import type { BotContext } from '../context.ts';

/** Intensity words in any language the bot speaks ("nightmare", "悪夢"), and the words before a seed. */
const INTENSITY_WORDS = new Map<string, Intensity>(INTENSITIES.flatMap((i) => [[i, i] as const, ...LANGUAGES.map((l) => [l.messages.intensities[i].name.toLowerCase(), i] as const)]));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const SEED = new RegExp(`(?:^|[\\s、。,])(?:${[...new Set(LANGUAGES.map((l) => escape(l.messages.seedWord)))].join('|')})\\s*[:=：]?\\s*(\\d{1,10})(?!\\d)`, 'i');

/** Reads "nightmare" or "seed 42" (or 悪夢, シード 42) from the message text, so `@bot nightmare seed 7` works. */
function overridesFrom(content: string): { intensity?: Intensity; seed?: number } {
  const words = content.toLowerCase().split(/[\s、。,!！?？]+/);
  const intensity = words.map((w) => INTENSITY_WORDS.get(w)).find((i) => i !== undefined);
  const seed = SEED.exec(content)?.[1];
  return { intensity, seed: seed ? Number(seed) % 2 ** 31 : undefined };
}

/**
 * A message that mentions the bot and carries, or replies to, an image gets the dream as a reply. A reply that
 * carries an image of its own to an image is a guided dream: the replied-to picture is dreamed, the attached one guides.
 */
export async function handleMention(message: Message, ctx: BotContext, botUserId: string): Promise<void> {
  if (message.author.bot || !message.mentions.users.has(botUserId)) return;
  // A server may turn mention dreams off, or keep the bot to listed channels: then a mention is not answered at all.
  if (!(await ctx.community.mentionsOpen(message.guildId, message.channelId))) return;
  // A message carries no member language: the one it is written in, else the server's.
  const locale = localeOfText(message.content, message.guild?.preferredLocale);
  const attached: ImageRef | null = firstImageOf(message);
  let source = attached;
  let guide: ImageRef | undefined;
  if (message.reference?.messageId) {
    const referenced = await message.fetchReference().catch(() => null);
    const repliedTo = referenced ? firstImageOf(referenced) : null;
    // Two images: the replied-to picture is dreamed, the attached one guides what grows in it.
    if (repliedTo) {
      source = repliedTo;
      guide = attached ?? undefined;
    }
  }
  if (!source) {
    await message.reply({
      content: messagesFor(locale).refusals.noImageInMention,
      allowedMentions: { repliedUser: false },
    });
    return;
  }
  await ctx.dreams.handle({ userId: message.author.id, source, guide, overrides: overridesFrom(message.content), reply: messageAddress(message, locale) });
}
