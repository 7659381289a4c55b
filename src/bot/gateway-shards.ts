import { Status, type Client } from 'discord.js';
import type { ShardPlan } from '../config.ts';

/** One held shard as /healthz and /metrics show it. */
export interface ShardState {
  id: number;
  /** `ready`, or discord.js's status in lower case (`connecting`, `resuming`, `identifying`, …), or `not started`. */
  state: string;
  /** Heartbeat round trip in ms; -1 before the first heartbeat. */
  pingMs: number;
  guilds: number;
  /** How long it has not been ready (0 when it is). */
  downMs: number;
}

/**
 * The shards this process holds and since when each is down. `client.isReady()` stays true through an outage,
 * so each shard's own status is what tells; the times come from its events (`markDown`) and from each look.
 */
export class GatewayShards {
  private readonly downSince = new Map<number, number>();
  /** The shards configured for this process, shown before discord.js has created them (empty: Discord decides). */
  private readonly planned: readonly number[];

  constructor(
    private readonly client: Client,
    plan: ShardPlan,
  ) {
    this.planned = plan.ids ?? (plan.count === 'auto' ? [] : [...Array(plan.count).keys()]);
  }

  markDown(id: number): void {
    if (!this.downSince.has(id)) this.downSince.set(id, Date.now());
  }

  /** Every held shard, by id. */
  states(): ShardState[] {
    const { shards } = this.client.ws;
    const ids = shards.size ? [...shards.keys()] : [...this.planned];
    const guilds = new Map<number, number>();
    for (const guild of this.client.guilds.cache.values()) guilds.set(guild.shardId, (guilds.get(guild.shardId) ?? 0) + 1);
    return ids
      .sort((a, b) => a - b)
      .map((id) => {
        const shard = shards.get(id);
        const state = !shard ? 'not started' : shard.status === Status.Ready ? 'ready' : (Status[shard.status] ?? String(shard.status)).toLowerCase();
        if (state === 'ready') this.downSince.delete(id);
        else this.markDown(id);
        const since = this.downSince.get(id);
        return { id, state, pingMs: shard?.ping ?? -1, guilds: guilds.get(id) ?? 0, downMs: since === undefined ? 0 : Date.now() - since };
      });
  }
}
