import { MessageFlags, type ChatInputCommandInteraction, type MessageContextMenuCommandInteraction } from 'discord.js';
import { precheck, type DownloadRules, type ImageRef } from '../jobs/index.ts';

/**
 * Checks a command's pictures without downloading them (host, announced size and type) and answers the interaction:
 * the first refusal privately and at once (false), or a public "thinking…" for the work to come (true). A picture
 * given with a `label` ("The guide") has its refusal say which one it was about; a missing picture is refused
 * with `missing`.
 */
export async function acceptImages(
  interaction: ChatInputCommandInteraction | MessageContextMenuCommandInteraction,
  rules: DownloadRules,
  images: { ref: ImageRef | null | undefined; label?: string; missing?: string }[],
): Promise<boolean> {
  for (const { ref, label, missing } of images) {
    const why = ref ? precheck(ref, rules) : missing;
    if (!why) continue;
    await interaction.reply({ content: label ? `${label}: ${why}` : why, flags: MessageFlags.Ephemeral });
    return false;
  }
  await interaction.deferReply();
  return true;
}
