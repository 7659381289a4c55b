import { runMain } from './exit.ts';
import { explainMain } from './explain-main.ts';

runMain('explain', () => explainMain(process.argv.slice(2)));
