import { MessageFlags, type ButtonInteraction } from 'discord.js';
import { randomSeed } from '../../engine/light.ts';
import { messagesFor } from '../../i18n/index.ts';
import { CustomId, interactionAddress, parseCancel, parseDelete, recipeFromEmbed } from '../../jobs/index.ts';
import type { BotContext } from '../context.ts';
import { deleteResult } from './delete-result.ts';

/**
 * Cancel (owner only), Delete (the requester or a moderator, see delete-result.ts), Dream deeper (dream the result
 * again), Reroll (same input, new seed), Explain (the original and the dream side by side, with what the classifier
 * sees in each) and Animate (an endless zoom of the result).
 */
export async function handleButton(interaction: ButtonInteraction, ctx: BotContext): Promise<void> {
  const t = messagesFor(interaction.locale).refusals;
  const jobId = parseCancel(interaction.customId);
  if (jobId) {
    const outcome = await ctx.dreams.cancel(jobId, interaction.user.id);
    if (outcome === 'not_owner') {
      await interaction.reply({ content: t.notOwner, flags: MessageFlags.Ephemeral });
    } else if (outcome === 'unavailable') {
      await interaction.reply({ content: t.unavailable, flags: MessageFlags.Ephemeral });
    } else if (outcome === 'gone') {
      await interaction.reply({ content: t.alreadyFinished, flags: MessageFlags.Ephemeral });
    } else {
      // The job's own message turns into "Cancelled" through its reply target.
      await interaction.deferUpdate();
    }
    return;
  }
  const requesterId = parseDelete(interaction.customId);
  if (requesterId) {
    await deleteResult(interaction, requesterId, messagesFor(interaction.locale));
    return;
  }
  const known: string[] = [CustomId.deeper, CustomId.reroll, CustomId.explain, CustomId.animate];
  if (!known.includes(interaction.customId)) {
    await interaction.reply({ content: t.oldButton, flags: MessageFlags.Ephemeral });
    return;
  }
  const recipe = recipeFromEmbed(interaction.message.embeds[0]);
  const result = interaction.message.attachments.first();
  if (!recipe || (interaction.customId !== CustomId.reroll && !result)) {
    await interaction.reply({ content: t.lostRecipe, flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.deferReply();
  const dream = result && { url: result.url, filename: result.name, contentType: result.contentType ?? undefined, size: result.size };
  if (interaction.customId === CustomId.explain && dream) {
    await ctx.dreams.explain({ userId: interaction.user.id, sources: [{ url: recipe.sourceUrl, filename: 'source' }, dream], reply: interactionAddress(interaction) });
    return;
  }
  if (interaction.customId === CustomId.animate && dream) {
    // The dream's result, animated at the dream's intensity and seed, growing what it grew (layers, channels, class,
    // soft, model); a zoom's frames take their own step size and octaves.
    const { intensity, seed, layers, style, target, soft, model } = recipe.overrides;
    await ctx.dreams.zoom({ userId: interaction.user.id, source: dream, overrides: { intensity, seed, layers, style, target, soft, model }, reply: interactionAddress(interaction) });
    return;
  }
  const deeper = interaction.customId === CustomId.deeper;
  const overrides = deeper ? recipe.overrides : { ...recipe.overrides, seed: randomSeed() };
  await ctx.dreams.handle({
    userId: interaction.user.id,
    source: deeper && dream ? dream : { url: recipe.sourceUrl, filename: 'source' },
    // A guided dream stays guided, by the same picture at the same layer.
    overrides: recipe.guide ? { ...overrides, guideLayer: recipe.guide.layer } : overrides,
    guide: recipe.guide && { url: recipe.guide.url, filename: 'guide' },
    reply: interactionAddress(interaction),
  });
}
