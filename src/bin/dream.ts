import { dreamMain } from './dream-args.ts';
import { runMain } from './exit.ts';

runMain('dream', () => dreamMain(process.argv.slice(2)));
