import { botConfig, type BotConfig } from '../../src/config.ts';
import type { FakeDiscord } from './fake-discord.ts';

/** The settings that point a bot at the fake Discord (REST, gateway and CDN), e.g. for a bot process's environment. */
export function fakeEnv(fake: FakeDiscord): Record<string, string> {
  return {
    DISCORD_TOKEN: fake.token,
    DISCORD_CLIENT_ID: fake.applicationId,
    DISCORD_API: fake.apiBase,
    ATTACHMENT_URL_PREFIXES: fake.cdnBase,
    // Each bot its own database, gone with it (a test that means to share one or keep it sets DATABASE_URL).
    DATABASE_URL: 'sqlite::memory:',
  };
}

/** A bot configuration pointed at the fake Discord (REST, gateway and CDN), plus test-specific settings. */
export function fakeBotConfig(fake: FakeDiscord, extra: Record<string, string> = {}): BotConfig {
  return botConfig({ ...fakeEnv(fake), LOG_LEVEL: 'silent', ...extra });
}
