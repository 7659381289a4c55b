import type { ChannelMode, Database, NsfwPolicy } from './schema.ts';
import type { Kysely } from './kysely.ts';

/** A server's /settings, with the defaults filled in for anything never set. */
export interface ServerSettings {
  /** Overrides NSFW_POLICY here; undefined: the deployment's. */
  nsfwPolicy?: NsfwPolicy;
  /** Dream cost units per member per UTC day; 0 = no limit. */
  dailyLimit: number;
  /** The default intensity of this server's dreams; undefined: the engine's. */
  intensity?: string;
  mentions: boolean;
  channelMode: ChannelMode;
  /** The channels open when channelMode is `listed`. */
  channels: string[];
}

export const DEFAULT_SETTINGS: Readonly<ServerSettings> = { dailyLimit: 0, mentions: true, channelMode: 'everywhere', channels: [] };

/** One /settings change: `null` puts a value back to the deployment's default. */
export interface SettingsChange {
  nsfwPolicy?: NsfwPolicy | null;
  dailyLimit?: number;
  intensity?: string | null;
  mentions?: boolean;
  channelMode?: ChannelMode;
}

export async function readSettings(db: Kysely<Database>, guildId: string): Promise<ServerSettings> {
  const [row, channels] = await Promise.all([
    db.selectFrom('guild_settings').selectAll().where('guild_id', '=', guildId).executeTakeFirst(),
    db.selectFrom('guild_channels').select('channel_id').where('guild_id', '=', guildId).orderBy('channel_id').execute(),
  ]);
  const listed = channels.map((c) => c.channel_id);
  if (!row) return { ...DEFAULT_SETTINGS, channels: listed };
  return {
    nsfwPolicy: row.nsfw_policy ?? undefined,
    dailyLimit: row.daily_limit,
    intensity: row.intensity ?? undefined,
    mentions: row.mentions !== 0,
    channelMode: row.channel_mode,
    channels: listed,
  };
}

/** The columns a change sets (only those it names). */
function columns(change: SettingsChange) {
  return {
    ...(change.nsfwPolicy !== undefined ? { nsfw_policy: change.nsfwPolicy } : {}),
    ...(change.dailyLimit !== undefined ? { daily_limit: change.dailyLimit } : {}),
    ...(change.intensity !== undefined ? { intensity: change.intensity } : {}),
    ...(change.mentions !== undefined ? { mentions: change.mentions ? 1 : 0 } : {}),
    ...(change.channelMode !== undefined ? { channel_mode: change.channelMode } : {}),
  };
}

/** Applies a change in one statement (insert the server's row, or update the named columns of it). */
export async function changeSettings(db: Kysely<Database>, guildId: string, by: string, change: SettingsChange, now = Date.now()): Promise<void> {
  const set = { ...columns(change), updated_at: now, updated_by: by };
  await db
    .insertInto('guild_settings')
    .values({ guild_id: guildId, daily_limit: 0, mentions: 1, channel_mode: 'everywhere', nsfw_policy: null, intensity: null, ...set })
    .onConflict((oc) => oc.column('guild_id').doUpdateSet(set))
    .execute();
}

/** Opens (`allowed`) or closes a channel for `listed` mode; the settings row is touched in the same transaction. */
export async function setChannel(db: Kysely<Database>, guildId: string, channelId: string, allowed: boolean, by: string, now = Date.now()): Promise<void> {
  await db.transaction().execute(async (tx) => {
    if (allowed) await tx.insertInto('guild_channels').values({ guild_id: guildId, channel_id: channelId }).onConflict((oc) => oc.columns(['guild_id', 'channel_id']).doNothing()).execute();
    else await tx.deleteFrom('guild_channels').where('guild_id', '=', guildId).where('channel_id', '=', channelId).execute();
    await changeSettings(tx, guildId, by, {}, now);
  });
}
