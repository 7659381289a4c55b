import { deployCommands } from '../bot/deploy.ts';
import { deployConfig } from '../config.ts';
import { runMain } from './exit.ts';

/**
 * `npm run deploy-commands`: registers the commands in commands/. With DISCORD_GUILD_ID they appear in that server
 * at once; without it they are global (Discord may take a while to show them).
 */
runMain('deploy-commands', async () => {
  process.stdout.write(await deployCommands(deployConfig()));
  return 0;
});
