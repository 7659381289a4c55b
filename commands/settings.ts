import { ChannelType, InteractionContextType, MessageFlags, PermissionFlagsBits, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';
import { choice, withWords } from '../src/bot/localize.ts';
import { INTENSITIES, isIntensity } from '../src/engine/index.ts';
import { messagesFor, type Catalog } from '../src/i18n/index.ts';
import type { ServerSettings } from '../src/store/index.ts';

/**
 * `/settings`: a server's own rules (safety, daily limit, default intensity, mentions, channels), answered
 * privately. Discord shows it only to members with Manage Server (default_member_permissions), and it is checked
 * again here, since a server's admins can hand the command to anyone.
 */
const words = (t: Catalog) => t.community.commands.settings;
const POLICIES = ['block', 'spoiler', 'off'] as const;
const MODES = ['everywhere', 'listed'] as const;
/** A daily limit above this is no limit in practice; Discord refuses larger numbers before they reach the bot. */
const MAX_DAILY_LIMIT = 10_000;

export const data = withWords(new SlashCommandBuilder(), (t) => words(t))
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((c) => withWords(c, (t) => words(t).show))
  .addSubcommand((c) =>
    withWords(c, (t) => words(t).safety).addStringOption((o) =>
      withWords(o, (t) => words(t).safety.policy)
        .setRequired(true)
        .addChoices(...POLICIES.map((p) => choice(p, (t) => t.community.commands.policies[p]))),
    ),
  )
  .addSubcommand((c) =>
    withWords(c, (t) => words(t).dailyLimit).addIntegerOption((o) => withWords(o, (t) => words(t).dailyLimit.dreams).setRequired(true).setMinValue(0).setMaxValue(MAX_DAILY_LIMIT)),
  )
  .addSubcommand((c) =>
    withWords(c, (t) => words(t).intensity).addStringOption((o) =>
      withWords(o, (t) => words(t).intensity.default)
        .setRequired(true)
        .addChoices(...INTENSITIES.map((i) => choice(i, (t) => t.intensities[i].name))),
    ),
  )
  .addSubcommand((c) => withWords(c, (t) => words(t).mentions).addBooleanOption((o) => withWords(o, (t) => words(t).mentions.enabled).setRequired(true)))
  .addSubcommand((c) =>
    withWords(c, (t) => words(t).channels).addStringOption((o) =>
      withWords(o, (t) => words(t).channels.mode)
        .setRequired(true)
        .addChoices(...MODES.map((m) => choice(m, (t) => t.community.commands.modes[m]))),
    ),
  )
  .addSubcommand((c) =>
    withWords(c, (t) => words(t).channel)
      .addChannelOption((o) =>
        withWords(o, (t) => words(t).channel.channel)
          .setRequired(true)
          .addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement, ChannelType.GuildForum, ChannelType.GuildVoice),
      )
      .addBooleanOption((o) => withWords(o, (t) => words(t).channel.allowed).setRequired(true)),
  );

const mention = (id: string) => `<#${id}>`;

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const t = messagesFor(interaction.locale);
  const say = (content: string) => (interaction.deferred ? interaction.editReply({ content }) : interaction.reply({ content, flags: MessageFlags.Ephemeral }));
  const guildId = interaction.guildId;
  if (!guildId) return void (await say(t.community.serversOnly));
  if (!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) return void (await say(t.community.notManager));
  const sub = interaction.options.getSubcommand(true);
  // Mistakes are answered before the database is asked.
  const limit = sub === 'daily-limit' ? interaction.options.getInteger('dreams', true) : 0;
  if (limit < 0) return void (await say(t.community.negativeLimit));
  const channelId = sub === 'channel' ? channelOf(interaction, guildId) : undefined;
  if (channelId === null) return void (await say(t.community.foreignChannel));
  // A database far away may take longer than Discord's 3 s: answered privately, a moment later.
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const { store } = ctx.community;
  const by = interaction.user.id;
  const saved = t.community.saved;
  try {
    switch (sub) {
      case 'show': {
        const [settings, recent] = await Promise.all([store.settings(guildId), store.recent(guildId, 7)]);
        return void (await say(show(t, settings, recent, ctx.config.nsfwPolicy)));
      }
      case 'safety': {
        const policy = POLICIES.find((p) => p === interaction.options.getString('policy', true)) ?? 'block';
        await store.changeSettings(guildId, by, { nsfwPolicy: policy });
        return void (await say(saved.safety(policy)));
      }
      case 'daily-limit':
        await store.changeSettings(guildId, by, { dailyLimit: Math.min(limit, MAX_DAILY_LIMIT) });
        return void (await say(saved.dailyLimit(Math.min(limit, MAX_DAILY_LIMIT))));
      case 'intensity': {
        const intensity = INTENSITIES.find((i) => i === interaction.options.getString('default', true)) ?? 'medium';
        await store.changeSettings(guildId, by, { intensity });
        return void (await say(saved.intensity(intensity)));
      }
      case 'mentions': {
        const enabled = interaction.options.getBoolean('enabled', true);
        await store.changeSettings(guildId, by, { mentions: enabled });
        return void (await say(saved.mentions(enabled)));
      }
      case 'channels': {
        const mode = MODES.find((m) => m === interaction.options.getString('mode', true)) ?? 'everywhere';
        await store.changeSettings(guildId, by, { channelMode: mode });
        const settings = await store.settings(guildId);
        return void (await say(saved.channels(mode, settings.channels.map(mention))));
      }
      case 'channel': {
        const allowed = interaction.options.getBoolean('allowed', true);
        await store.setChannel(guildId, channelId!, allowed, by);
        const settings = await store.settings(guildId);
        return void (await say(saved.channel(mention(channelId!), allowed, settings.channelMode)));
      }
    }
  } catch (err) {
    ctx.log.warn({ err, guild: guildId, sub }, 'could not read or save settings: the database is unavailable');
    await say(t.community.unavailable);
  }
}

/** The chosen channel's id if it is one of this server's; null if it belongs elsewhere (or is unknown here). */
function channelOf(interaction: ChatInputCommandInteraction, guildId: string): string | null {
  const option = interaction.options.get('channel', true);
  const id = String(option.value);
  const resolved = option.channel as { guildId?: string | null } | null | undefined;
  if (resolved && 'guildId' in resolved) return resolved.guildId === guildId ? id : null;
  return interaction.guild?.channels.cache.has(id) ? id : null;
}

function show(t: Catalog, s: ServerSettings, recent: { dreams: number; members: number; refusals: number }, deploymentPolicy: 'block' | 'spoiler' | 'off'): string {
  return t.community.show({
    policy: s.nsfwPolicy ?? deploymentPolicy,
    policyOwn: s.nsfwPolicy !== undefined,
    dailyLimit: s.dailyLimit,
    intensity: s.intensity && isIntensity(s.intensity) ? s.intensity : undefined,
    mentions: s.mentions,
    channelMode: s.channelMode,
    channels: s.channels.map(mention),
    recent,
  });
}
