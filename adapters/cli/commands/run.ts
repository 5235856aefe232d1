/**
 * `pseudoword run <pipeline.json>`: runs a described stream pipeline. Input comes from a folder, a file, or
 * msgpack frames on stdin (`-`); results go to a folder as files, or to stdout as msgpack frames; progress goes
 * to stderr. The description is checked in full (stages, settings, kinds) before any input is read.
 */
import { Encoder, decodeMultiStream } from '@msgpack/msgpack';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { PipelineError } from '../../../common/errors.ts';
import { decodeImage } from '../../../common/image/decode-image.ts';
import { parseFrame, type Frame } from '../../../common/frames.ts';
import { buildPipeline, type BuiltPipeline } from '../../../pipeline/stream-pipelines/build-pipeline.ts';
import { compilePipeline } from '../../../pipeline/stream-pipelines/compile-pipeline.ts';
import { resultFrameStream } from '../../../pipeline/stream-pipelines/frame-stream.ts';
import { pipelineJsonSchema } from '../../../pipeline/stream-pipelines/json-schema.ts';
import { runPipeline } from '../../../pipeline/stream-pipelines/run-pipeline.ts';
import type { StageContext } from '../../../pipeline/stream-pipelines/stage-definition.ts';
import type { ItemOf } from '../../../common/stream-items.ts';
import { frameToItem, itemToFrame } from '../../../pipeline/stream-pipelines/wire-items.ts';
import { writeFileAtomic } from '../../fs.ts';
import { loadEmbeddingsInto } from '../../load-embeddings.ts';
import { loadStageBeside } from '../../load-user-stage.ts';
import { openModel } from '../../open-model.ts';
import { trainDeps } from '../../train-deps.ts';
import { helpText, parse, type CommandSpec } from '../args.ts';
import { progressBar } from '../progress-bar.ts';

export const spec: CommandSpec = {
  name: 'run',
  summary: 'Run a pipeline description (stages and settings as JSON) over a stream of images or latents.',
  usage: 'run <pipeline.json> [--input <dir|file|->] [--out <dir>]',
  positionals: '<pipeline.json>',
  options: {
    input: {
      type: 'string',
      short: 'i',
      arg: 'dir|file|-',
      help: 'images or .msgpack frame files; a folder; or - for msgpack frames on stdin',
    },
    out: {
      type: 'string',
      short: 'o',
      arg: 'dir',
      help: 'write results as files (PNG images, .msgpack latents) into this folder; default: msgpack frames on stdout',
    },
    schema: { type: 'boolean', help: "print the description's JSON Schema and exit" },
  },
};

const imageExt = new Set(['.png', '.jpg', '.jpeg', '.webp']);
const log = (m: string) => process.stderr.write(`${m}\n`);
const bytesOf = (p: string) => {
  const b = readFileSync(p);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};

/** Frames from msgpack bytes, each validated. */
async function* framesOf(source: AsyncIterable<Uint8Array> | Uint8Array): AsyncGenerator<Frame> {
  const chunks =
    source instanceof Uint8Array
      ? (async function* () {
          yield source;
        })()
      : source;
  for await (const v of decodeMultiStream(chunks)) yield parseFrame(v);
}

/** A ReadableStream as an async iterable (the DOM typings lack its iterator). */
async function* each<T>(stream: ReadableStream<T>): AsyncGenerator<T> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The first stage's items from --input, read one file at a time as the pipeline asks for them. */
async function* inputItems(p: BuiltPipeline, input: string): AsyncGenerator<unknown> {
  let position = 0;
  const fromFrames = async function* (frames: AsyncIterable<Frame>, name?: string) {
    for await (const f of frames) {
      const item = (await frameToItem(p.input, f, position)) as { name?: string } | undefined;
      if (item === undefined) continue;
      position++;
      yield name && p.input !== 'frame' ? { ...item, name } : item;
    }
  };
  if (input === '-') return yield* fromFrames(framesOf(process.stdin as AsyncIterable<Uint8Array>));
  const path = resolve(input);
  if (!existsSync(path)) throw new PipelineError('not_found', `--input: '${input}' does not exist`);
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .sort()
        .filter((f) => !f.startsWith('.'))
        .map((f) => join(path, f))
    : [path];
  const wantsFrames = p.input === 'latent' || p.input === 'frame';
  for (const f of files) {
    const ext = extname(f).toLowerCase();
    // Each file goes in as what it is, even when the first stage takes something else: the pipeline then stops
    // naming both kinds, instead of ending with "0 results".
    if (ext === '.msgpack') yield* fromFrames(framesOf(bytesOf(f)), basename(f, ext));
    else if (imageExt.has(ext)) {
      const file: ItemOf['image-file'] = { index: position++, name: basename(f), bytes: bytesOf(f) };
      const caption = `${f.slice(0, -ext.length)}.txt`;
      const withCaption = existsSync(caption) ? { ...file, caption: readFileSync(caption, 'utf8').trim() } : file;
      if (p.input !== 'image') yield withCaption;
      else
        yield {
          index: file.index,
          name: file.name,
          image: await decodeImage(file.bytes, file.name),
        } satisfies ItemOf['image'];
    } else if (files.length === 1)
      throw new PipelineError(
        'bad_request',
        `--input: '${input}' is not ${wantsFrames ? 'a .msgpack frame file' : 'a PNG, JPEG or WebP image'}`,
      );
  }
}

/** Writes each result into `dir`: images as PNG, latents as one-frame .msgpack files, frames by type. */
const writeResults = async (p: BuiltPipeline, results: ReadableStream<unknown>, dir: string) => {
  mkdirSync(dir, { recursive: true });
  const encoder = new Encoder({ ignoreUndefined: true });
  const stem = (name: string) => basename(name, extname(name));
  const bar = progressBar(p.output === 'frame' ? 'running' : 'results');
  let n = 0;
  for await (const r of each(results)) {
    const frame = await itemToFrame(p.output, r, p.runId);
    const name = p.output === 'frame' ? `image-${n}` : stem((r as { name: string }).name);
    if (frame.type === 'progress') bar.update(frame.step, frame.of, frame.phase);
    else if (frame.type === 'loss') bar.update(frame.step, 0, `loss ${frame.loss.toFixed(4)}`);
    else if (frame.type === 'error') throw new PipelineError(frame.code, frame.message, frame.details);
    else if (frame.type === 'image') {
      writeFileAtomic(join(dir, `${name}.png`), frame.png);
      log(`wrote ${join(dir, `${name}.png`)}`);
    } else if (frame.type === 'latent') {
      writeFileAtomic(join(dir, `${name}.msgpack`), encoder.encode(frame));
      log(`wrote ${join(dir, `${name}.msgpack`)}`);
    } else if (frame.type === 'checkpoint') log(`saved ${frame.files.join(', ')}`);
    else continue;
    if (frame.type === 'image' || frame.type === 'latent') n++;
  }
  bar.done();
  log(`${n} result${n === 1 ? '' : 's'} in ${dir}`);
};

const writeStdout = (chunk: Uint8Array) =>
  new Promise<void>((ok, fail) => process.stdout.write(chunk, (e) => (e ? fail(e) : ok())));

export const run = async (argv: string[]) => {
  const { values: v, positionals, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  if (v.schema) return void process.stdout.write(`${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`);
  const file = positionals[0];
  if (!file)
    throw new PipelineError(
      'bad_request',
      "give the pipeline description: pseudoword run <pipeline.json> — see 'pseudoword run --help'",
    );
  if (!existsSync(file)) throw new PipelineError('not_found', `no pipeline description at '${file}'`);
  let description: unknown;
  try {
    description = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PipelineError('bad_request', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  const compiled = await compilePipeline(description, { loadStage: loadStageBeside(file) });
  const { model: modelName, device } = compiled.description;
  if (compiled.input !== 'none' && !v.input)
    throw new PipelineError('bad_request', `this pipeline takes '${compiled.input}' input: pass --input <dir|file|->`, {
      field: 'input',
    });
  const bars = new Map<string, ReturnType<typeof progressBar>>();
  let model: ReturnType<typeof openModel> | undefined;
  const ctx: StageContext = {
    runId: crypto.randomUUID(),
    modelName,
    device,
    model: () => (model ??= openModel(modelName, device, log)),
    progress: (phase, step, of) => {
      const bar = bars.get(phase) ?? bars.set(phase, progressBar(phase)).get(phase)!;
      bar.update(step, of);
      if (step === of) bar.done(), bars.delete(phase);
    },
    generate: { openModel: (name, d) => openModel(name, d, log), withEmbeddings: loadEmbeddingsInto },
    train: trainDeps(log),
  };
  const built = await buildPipeline(compiled, ctx);
  const items = compiled.input === 'none' ? undefined : inputItems(built, v.input);
  if (v.out) return writeResults(built, runPipeline(built, items), resolve(v.out));
  for await (const chunk of each(resultFrameStream(built, items))) await writeStdout(chunk);
};
