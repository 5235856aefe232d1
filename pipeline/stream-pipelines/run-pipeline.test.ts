import { describe, expect, it } from 'bun:test';
import { concatMap, filter, map, of, reduce, type OperatorFunction } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { BuiltPipeline } from './build-pipeline.ts';
import { runPipeline } from './run-pipeline.ts';

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
