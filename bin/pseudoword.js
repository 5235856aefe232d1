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
// glibc: without onnxruntime's CPU arena (the low-memory training sessions), freed activations of a few MiB would
// otherwise stay in malloc heaps after the first step raises glibc's dynamic mmap threshold; a fixed threshold
// returns them, which keeps an SD-size training step's peak ~1.5 GiB lower. A user's own settings win.
const env = { MALLOC_MMAP_THRESHOLD_: '1048576', MALLOC_ARENA_MAX: '2', ...process.env };
const child = spawn(cmd, [...args, ...process.argv.slice(2)], { stdio: 'inherit', env });
child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => child.kill(s));
