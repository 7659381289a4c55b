import { MessageFlags, type ChatInputCommandInteraction, type MessageContextMenuCommandInteraction } from 'discord.js';
import { errorText, messagesFor, type Catalog } from '../i18n/index.ts';
import { precheck, type DownloadRules, type ImageRef } from '../jobs/index.ts';

/**
 * Checks a command's pictures without downloading them (host, announced size and type) and answers the interaction:
 * the first refusal privately and at once (false), or a public "thinking…" for the work to come (true), in the
 * member's language. A `guide` picture's refusal says it was about the guide; a missing picture is refused with
 * `missing`.
 */
export async function acceptImages(
  interaction: ChatInputCommandInteraction | MessageContextMenuCommandInteraction,
  rules: DownloadRules,
  images: { ref: ImageRef | null | undefined; guide?: boolean; missing?: (t: Catalog) => string }[],
): Promise<boolean> {
  const t = messagesFor(interaction.locale);
  for (const { ref, guide, missing } of images) {
    const detail = ref ? precheck(ref, rules) : null;
    const why = detail ? errorText(t, { message: '', detail }) : ref ? null : missing?.(t);
    if (!why) continue;
    await interaction.reply({ content: guide ? t.refusals.aboutGuide(why) : why, flags: MessageFlags.Ephemeral });
    return false;
  }
  await interaction.deferReply();
  return true;
}
