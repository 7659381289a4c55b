import { runMain } from './exit.ts';
import { trainMain } from './train-main.ts';

runMain('train', () => trainMain(process.argv.slice(2)));
