import type { Message } from 'discord.js';
import { INTENSITIES, isIntensity } from '../../engine/index.ts';
import { messagesFor } from '../../i18n/index.ts';
import { firstImageOf, messageAddress, type ImageRef } from '../../jobs/index.ts';
import type { BotContext } from '../context.ts';

/** Reads "nightmare" or "seed 42" from the message text, so `@bot nightmare seed 7` works. */
function overridesFrom(content: string) {
  const words = content.toLowerCase().split(/\s+/);
  const intensity = words.find((w) => isIntensity(w));
  const seed = /\bseed[:= ]+(\d{1,10})\b/i.exec(content)?.[1];
  return { intensity: intensity && isIntensity(intensity) ? intensity : undefined, seed: seed ? Number(seed) % 2 ** 31 : undefined };
}

/**
 * A message that mentions the bot and carries, or replies to, an image gets the dream as a reply. A reply that
 * carries an image of its own to an image is a guided dream: the replied-to picture is dreamed, the attached one guides.
 */
export async function handleMention(message: Message, ctx: BotContext, botUserId: string): Promise<void> {
  if (message.author.bot || !message.mentions.users.has(botUserId)) return;
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
      content: messagesFor(message.guild?.preferredLocale).refusals.noImageInMention(INTENSITIES),
      allowedMentions: { repliedUser: false },
    });
    return;
  }
  await ctx.dreams.handle({ userId: message.author.id, source, guide, overrides: overridesFrom(message.content), reply: messageAddress(message) });
}
