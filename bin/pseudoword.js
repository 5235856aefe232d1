#!/usr/bin/env node
// `npx pseudoword …` entry: runs the TypeScript CLI on Bun (installed as an npm dependency), or on the runtime
// named by PSEUDOWORD_RUNTIME=deno|bun. Plain Node cannot run the TypeScript sources directly.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runtime = process.env.PSEUDOWORD_RUNTIME ?? 'bun';
const main = join(root, 'adapters', 'cli', 'main.ts');
// The npm packages `bun` and `deno` link their binaries here.
const bin = (name) => join(root, 'node_modules', '.bin', name);
const [cmd, args] =
  runtime === 'deno'
    ? [bin('deno'), ['run', '-A', '--quiet', `--config=${join(root, 'deno.json')}`, main]]
    : [bin('bun'), [main]];
const child = spawn(cmd, [...args, ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => child.kill(s));
