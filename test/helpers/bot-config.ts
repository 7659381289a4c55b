import { botConfig, type BotConfig } from '../../src/config.ts';
import type { FakeDiscord } from './fake-discord.ts';

/** A bot configuration pointed at the fake Discord (REST, gateway and CDN), plus test-specific settings. */
export function fakeBotConfig(fake: FakeDiscord, extra: Record<string, string> = {}): BotConfig {
  return botConfig({
    DISCORD_TOKEN: fake.token,
    DISCORD_CLIENT_ID: fake.applicationId,
    DISCORD_API: fake.apiBase,
    ATTACHMENT_URL_PREFIXES: fake.cdnBase,
    LOG_LEVEL: 'silent',
    ...extra,
  });
}
