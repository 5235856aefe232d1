import { run } from './adapters/cli/commands/train-recogniser.ts';
await run(process.argv.slice(2));
