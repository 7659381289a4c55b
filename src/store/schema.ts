// The tables, as Kysely sees them: one schema for SQLite and Postgres (see migrations.ts). Times are Unix
// milliseconds (bigint in Postgres, read back as numbers); flags are 0/1 integers, which both databases spell alike.

export type NsfwPolicy = 'block' | 'spoiler' | 'off';
export type ChannelMode = 'everywhere' | 'listed';

/** One server's /settings; a server without a row has the defaults (the deployment's environment). */
export interface GuildSettingsTable {
  guild_id: string;
  /** Overrides NSFW_POLICY in this server; null: the deployment's. */
  nsfw_policy: NsfwPolicy | null;
  /** Dream cost units per member per UTC day; 0: no limit. */
  daily_limit: number;
  /** The intensity a dream takes when the member names none; null: the engine's default. */
  intensity: string | null;
  /** Reply-mention dreaming (1) or not (0). */
  mentions: number;
  channel_mode: ChannelMode;
  updated_at: number | string;
  updated_by: string;
}

/** Channels open to the bot when a server's channel_mode is `listed`. */
export interface GuildChannelsTable {
  guild_id: string;
  channel_id: string;
}

/** What a member has used in a server on one UTC day, in dream cost units (checked and counted in one statement). */
export interface DailyUsageTable {
  guild_id: string;
  user_id: string;
  /** YYYY-MM-DD, UTC. */
  day: string;
  used: number;
}

export type HistoryOutcome = 'queued' | 'done' | 'failed' | 'cancelled' | 'refused' | 'not_run';

/** One request: accepted (then how it ended) or refused. Kept HISTORY_DAYS; the pictures never are. */
export interface JobHistoryTable {
  id: string;
  guild_id: string | null;
  channel_id: string;
  user_id: string;
  /** dream, zoom or explain. */
  kind: string;
  /** The recipe as JSON (params, class, style; no pixels, no URLs). */
  recipe: string;
  cost: number;
  outcome: HistoryOutcome;
  /** Why it was refused or failed (daily_limit, channel, queue_full, nsfw, …). */
  reason: string | null;
  /** The UTC day its cost was counted on (to give it back); null when nothing was counted. */
  counted_day: string | null;
  queued_at: number | string;
  ended_at: number | string | null;
  /** From start to posted result. */
  seconds: number | null;
  /** The result's message (https://discord.com/channels/…). */
  message_link: string | null;
}

export interface Database {
  guild_settings: GuildSettingsTable;
  guild_channels: GuildChannelsTable;
  daily_usage: DailyUsageTable;
  job_history: JobHistoryTable;
}
