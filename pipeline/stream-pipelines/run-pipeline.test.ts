import { describe, expect, it } from 'bun:test';
import { decodeMultiStream } from '@msgpack/msgpack';
import { concatMap, filter, map, of, reduce, type OperatorFunction } from 'rxjs';
import { openModel } from '../../adapters/open-model.ts';
import { PipelineError } from '../../common/errors.ts';
import { encodePng } from '../../common/image/png.ts';
import type { StreamKind } from '../../common/stream-items.ts';
import { tensor } from '../../common/tensor.ts';
import type { BuiltPipeline } from './build-pipeline.ts';
import { pipelineFrameStream } from './frame-stream.ts';
import { runPipeline } from './run-pipeline.ts';
import { contextOn, runToEnd } from './test-helpers.ts';

const built = (...segments: [boolean, OperatorFunction<any, any>][]): BuiltPipeline => ({
  input: 'frame',
  output: 'frame',
  runId: 'r',
  segments: segments.map(([whole, op]) => ({ whole, op })),
});
/** Lets every pending promise and timer callback run. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 1));
};
/** 0, 1, 2, … forever, counting what was taken and noticing when the reader stops. */
const counter = () => {
  const s = { pulled: 0, returned: false };
  const gen = async function* () {
    try {
      for (;;) yield s.pulled++;
    } finally {
      s.returned = true;
    }
  };
  return { s, input: gen() };
};
const readAll = async <T>(stream: ReadableStream<T>): Promise<T[]> => {
  const out: T[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  return out;
};
const slow = concatMap(async (v: number) => (await new Promise((r) => setTimeout(r, 1)), v * 10));

describe('runPipeline', () => {
  it('emits results in input order', async () => {
    const input = (async function* () {
      yield* [1, 2, 3, 4];
    })();
    expect(
      await readAll(
        runPipeline(
          built([
            false,
            (src) =>
              src.pipe(
                slow,
                map((v: number) => v + 1),
              ),
          ]),
          input,
        ),
      ),
    ).toEqual([11, 21, 31, 41]);
  });

  it('reads no further ahead than the window and the waiting results allow while the consumer is slow', async () => {
    const { s, input } = counter();
    const reader = runPipeline<number>(built([false, slow]), input, { window: 2, highWater: 3 }).getReader();
    const seen: number[] = [];
    for (let k = 1; k <= 5; k++) {
      seen.push((await reader.read()).value!);
      await settle();
      // k read, at most 3 results waiting, at most 2 values inside the stage.
      expect(s.pulled).toBeLessThanOrEqual(k + 3 + 2);
    }
    expect(seen).toEqual([0, 10, 20, 30, 40]);
    await reader.cancel();
  });

  it('stops reading the input and unsubscribes the stages when the consumer cancels', async () => {
    const { s, input } = counter();
    let live = 0;
    const tracked: OperatorFunction<number, number> = (src) => src.pipe(map((v) => (live++, v)));
    // One segment, as buildPipeline fuses consecutive per-value stages.
    const reader = runPipeline<number>(built([false, (src) => src.pipe(tracked, slow)]), input).getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    await settle();
    const [pulled, seen] = [s.pulled, live];
    await settle();
    expect(s.returned).toBe(true);
    expect([s.pulled, live]).toEqual([pulled, seen]);
  });

  it('keeps flowing through a stage that emits nothing for some values', async () => {
    const input = (async function* () {
      yield* [1, 2, 3, 4, 5, 6];
    })();
    expect(
      await readAll(runPipeline(built([false, filter((v: number) => v % 2 === 0)]), input, { window: 1 })),
    ).toEqual([2, 4, 6]);
  });

  it('hands a whole-stream stage every value, then runs per-value stages after it', async () => {
    const input = (async function* () {
      yield* [1, 2, 3];
    })();
    const sum = reduce((a: number, v: number) => a + v, 0);
    expect(
      await readAll(runPipeline(built([false, slow], [true, sum], [false, map((v: number) => -v)]), input)),
    ).toEqual([-60]);
  });

  it('runs a source pipeline without input', async () => {
    const source: OperatorFunction<unknown, string> = () => of('a', 'b');
    expect(await readAll(runPipeline(built([true, source]), undefined))).toEqual(['a', 'b']);
  });

  it('ends the stream with the error a stage raised', async () => {
    const input = (async function* () {
      yield* [1, 2];
    })();
    const boom = map((v: number) => {
      if (v === 2) throw new PipelineError('bad_image', 'img2: corrupt');
      return v;
    });
    const reader = runPipeline<number>(built([false, boom]), input).getReader();
    expect((await reader.read()).value).toBe(1);
    await expect(reader.read()).rejects.toThrow('img2: corrupt');
  });

  it('errors with cancelled when its signal aborts', async () => {
    const { input } = counter();
    const ac = new AbortController();
    const reader = runPipeline<number>(built([false, slow]), input, { signal: ac.signal }).getReader();
    await reader.read();
    ac.abort();
    await expect(reader.read()).rejects.toMatchObject({ code: 'cancelled' });
  });
});

/** A pipeline whose one stage, `use`, takes `input` and records what it is handed. */
const guarded = (use: string, input: StreamKind) => {
  const seen: unknown[] = [];
  const p: BuiltPipeline = {
    input,
    output: 'image',
    runId: 'r',
    segments: [{ whole: false, op: map((v: unknown) => (seen.push(v), v)) }],
    first: { label: `stages[0] (${use})`, use, input },
  };
  return { p, seen };
};
const items = (...values: unknown[]) =>
  (async function* () {
    yield* values;
  })();
const imageFile = (index: number, name: string) => ({ index, name, bytes: Uint8Array.of(0x89, 0x50, 0x4e, 0x47) });
const latent = (index: number) => ({
  index,
  name: `latent-${index}`,
  latents: tensor('float32', [1, 4, 2, 2], new Float32Array(16)),
  timestep: 0,
});

describe('runPipeline given input of the wrong kind', () => {
  it('stops with bad_request naming the kind received and the first stage with the kind it takes', async () => {
    const { p, seen } = guarded('vae-decode', 'latent');
    const err = await readAll(runPipeline(p, items(imageFile(0, 'a.png'), imageFile(1, 'b.png')))).catch((e) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err).toMatchObject({
      code: 'bad_request',
      message: "input item 0 (a.png) is an 'image-file' item, but stages[0] (vae-decode) takes 'latent' items",
      details: { field: 'input', received: 'image-file', stage: 0, use: 'vae-decode', accepts: ['latent'] },
    });
    expect(seen).toEqual([]);
  });

  it('passes every item of the kind the first stage takes', async () => {
    const { p } = guarded('vae-decode', 'latent');
    expect((await readAll(runPipeline(p, items(latent(0), latent(1))))).length).toBe(2);
  });

  it('stops at the first item of the wrong kind without handing it to the stage', async () => {
    const { p, seen } = guarded('vae-decode', 'latent');
    const err = await readAll(runPipeline(p, items(latent(0), latent(1), imageFile(2, 'c.png'), latent(3)))).catch(
      (e) => e,
    );
    expect(err).toMatchObject({ code: 'bad_request', details: { received: 'image-file' } });
    expect(err.message).toStartWith('input item 2 (c.png)');
    expect(seen.every((v) => (v as { latents?: unknown }).latents)).toBe(true);
  });

  it('names a value that is no stream item at all', async () => {
    const { p } = guarded('vae-encode', 'image');
    await expect(readAll(runPipeline(p, items(42)))).rejects.toThrow(
      "input item 0 is not a stream item, but stages[0] (vae-encode) takes 'image' items",
    );
  });

  it('tells decoded images, image files, latents and frames apart', async () => {
    const { p } = guarded('decode-image', 'image-file');
    const image = { index: 0, name: 'x.png', image: { width: 1, height: 1, channels: 4, data: new Uint8Array(4) } };
    const frame = { type: 'image', runId: 'r', index: 0, width: 1, height: 1, png: new Uint8Array(4) };
    for (const [value, kind] of [
      [image, 'image'],
      [latent(0), 'latent'],
      [frame, 'frame'],
    ] as const)
      await expect(readAll(runPipeline(p, items(value)))).rejects.toMatchObject({ details: { received: kind } });
    expect((await readAll(runPipeline(p, items(imageFile(0, 'x.png'))))).length).toBe(1);
  });

  it('refuses items for a source stage, which takes no input', async () => {
    const { p } = guarded('generate', 'none');
    await expect(readAll(runPipeline(p, items(latent(0))))).rejects.toThrow(
      "input item 0 (latent-0) is a 'latent' item, but stages[0] (generate) takes no input (it is a source)",
    );
  });

  it('stops with bad_request when a pipeline whose first stage takes items is given no input at all', async () => {
    const { p } = guarded('vae-decode', 'latent');
    await expect(readAll(runPipeline(p, undefined))).rejects.toMatchObject({
      code: 'bad_request',
      message: "this pipeline was given no input, but stages[0] (vae-decode) takes 'latent' items",
    });
  });

  it('sends an error frame, not a done frame with 0 results, for a vae-decode run without input frames', async () => {
    const { p } = guarded('vae-decode', 'latent');
    const frames: unknown[] = [];
    for await (const f of decodeMultiStream(pipelineFrameStream(p, undefined))) frames.push(f);
    expect(frames).toEqual([expect.objectContaining({ type: 'error', code: 'bad_request' })]);
  });

  it('stops a compiled vae-decode pipeline fed image files with bad_request naming both kinds', async () => {
    const png = await encodePng({ width: 8, height: 8, channels: 4, data: new Uint8Array(256).fill(255) });
    const run = runToEnd(
      { stages: [{ use: 'vae-decode' }] },
      [{ index: 0, name: 'card.png', bytes: png }],
      contextOn(openModel),
    );
    await expect(run).rejects.toMatchObject({
      code: 'bad_request',
      message: "input item 0 (card.png) is an 'image-file' item, but stages[0] (vae-decode) takes 'latent' items",
    });
  });
});
