/**
 * Every decoder of bytes a client or a downloaded file controls, fed mutated valid inputs and random ones: each
 * input must end in a result or a PipelineError with a code other than 'internal' — never another exception,
 * never a hang (the test timeouts are the budget), and the process must stay within a stated memory bound.
 * Inputs are seeded (`FUZZ_SEED`, default below); a failure names the seed, target and case index that rebuild it
 * (see test/support/fuzz.ts).
 */
import { afterAll, describe, expect, it } from 'bun:test';
import { Encoder } from '@msgpack/msgpack';
import jpegJs from 'jpeg-js';
import type { Frame } from '../common/frames.ts';
import { crc32 } from '../common/crc32.ts';
import { decodeImage } from '../common/image/decode-image.ts';
import { decodeJpeg } from '../common/image/jpeg.ts';
import { decodePng, encodePng } from '../common/image/png.ts';
import { decodeWebp } from '../common/image/webp.ts';
import { decodeFrames, decodeMsgpackValues } from '../pipeline/wire/msgpack-stream.ts';
import { readEmbedding, writeEmbedding } from '../weights/embeddings/embedding-file.ts';
import { readSafetensors } from '../weights/embeddings/safetensors.ts';
import { torchLoad } from '../weights/embeddings/torch-load.ts';
import { unpickle } from '../weights/embeddings/unpickle.ts';
import { readZipEntries } from '../weights/embeddings/zip-entries.ts';
import { GraphBuilder, f } from '../weights/onnx/builder.ts';
import { decodeModel, encodeModel } from '../weights/onnx/proto.ts';
import { buildUnet, tinyUnetConfig } from '../weights/tiny/index.ts';
import { float32 } from '../common/tensor.ts';
import { fuzz, type FuzzReport, type FuzzTarget } from './support/fuzz.ts';
import { storedZip } from './support/stored-zip.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_601);
/** Cases per target: a few hundred each keeps the file to a few seconds on a 2-core machine. */
const CASES = Number(process.env.FUZZ_CASES ?? 500);
/** How far resident memory may grow over the whole file: the largest honest decode here is a few MiB. */
const RSS_GROWTH_BOUND = 512 * 2 ** 20;
const startRss = process.memoryUsage().rss;
let peakRss = startRss;

const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const ascii = (s: string) => new TextEncoder().encode(s);
const readFixture = async (name: string) =>
  new Uint8Array(await Bun.file(new URL(`fixtures/embeddings/${name}`, import.meta.url)).arrayBuffer());

/** Runs a target and fails with every failing case (seed, target, index, what was thrown). */
const expectOnlyTypedOutcomes = async (name: string, t: FuzzTarget, decode: (b: Uint8Array) => unknown) => {
  const report: FuzzReport = await fuzz(SEED, name, CASES, t, decode);
  peakRss = Math.max(peakRss, report.peakRss);
  if (process.env.FUZZ_VERBOSE) console.log(name, report.outcomes, `${(report.peakRss / 2 ** 20).toFixed(0)} MiB`);
  expect(report.failures.slice(0, 10)).toEqual([]);
  return report;
};

// ---------- images ----------

/** Recomputes every chunk's CRC that fits in the file, so a mutation reaches the code past the CRC check. */
const fixPngCrcs = (b: Uint8Array): Uint8Array => {
  const out = b.slice();
  const v = new DataView(out.buffer);
  for (let pos = 8; pos + 12 <= out.length; ) {
    const length = v.getUint32(pos);
    if (pos + 12 + length > out.length) break;
    v.setUint32(pos + 8 + length, crc32(out.subarray(pos + 4, pos + 8 + length)));
    pos += 12 + length;
  }
  return out;
};

const pngSeeds = async () => {
  const rgba = Uint8Array.from({ length: 5 * 4 * 4 }, (_, i) => (i * 37) & 0xff);
  const grey = Uint8Array.from({ length: 9 }, (_, i) => i * 28);
  const rgb = Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => 255 - i * 9);
  return [
    await encodePng({ width: 5, height: 4, channels: 4, data: rgba }),
    await encodePng({ width: 3, height: 3, channels: 1, data: grey }),
    await encodePng({ width: 4, height: 2, channels: 3, data: rgb }),
  ];
};

// The 16×16 card through ImageMagick as a progressive JPEG and as YCCK (common/image/jpeg.test.ts says how).
const PROGRESSIVE_JPEG =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/2wBDAQICAgICAgUDAwUKBwYHCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgr/wgARCAAQABADAREAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAABwYJ/8QAFwEAAwEAAAAAAAAAAAAAAAAABwgJAv/aAAwDAQACEAMQAAABLR+0V9maIi+Rc02jeXv/xAAUEAEAAAAAAAAAAAAAAAAAAAAg/9oACAEBAAEFAh//xAAUEQEAAAAAAAAAAAAAAAAAAAAg/9oACAEDAQE/AR//xAAUEQEAAAAAAAAAAAAAAAAAAAAg/9oACAECAQE/AR//xAAUEAEAAAAAAAAAAAAAAAAAAAAg/9oACAEBAAY/Ah//xAAUEAEAAAAAAAAAAAAAAAAAAAAg/9oACAEBAAE/IR//2gAMAwEAAgADAAAAEAAP/8QAFBEBAAAAAAAAAAAAAAAAAAAAIP/aAAgBAwEBPxAf/8QAFBEBAAAAAAAAAAAAAAAAAAAAIP/aAAgBAgEBPxAf/8QAFBABAAAAAAAAAAAAAAAAAAAAIP/aAAgBAQABPxAf/9k=';
const YCCK_JPEG =
  '/9j/7gAOQWRvYmUAZAAAAAAC/9sAQwACAQEBAQECAQEBAgICAgIEAwICAgIFBAQDBAYFBgYGBQYGBgcJCAYHCQcGBggLCAkKCgoKCgYICwwLCgwJCgoK/9sAQwECAgICAgIFAwMFCgcGBwoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoK/8AAFAgAEAAQBAERAAIRAQMRAQQRAP/EABcAAAMBAAAAAAAAAAAAAAAAAAcICQr/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFwEAAwEAAAAAAAAAAAAAAAAACAkKBf/EABQRAQAAAAAAAAAAAAAAAAAAAAD/2gAOBAEAAhEDEQQAAD8AIApCY1ICNthZYF6vCast80DNetgBmPD/2Q==';
const jpegSeeds = () => {
  const data = Uint8Array.from({ length: 16 * 8 * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * 13) & 0xff));
  return [
    new Uint8Array(jpegJs.encode({ width: 16, height: 8, data }, 60).data),
    fromBase64(PROGRESSIVE_JPEG),
    fromBase64(YCCK_JPEG),
  ];
};

// cwebp outputs (common/image/webp.test.ts): a 16×16 lossy VP8 card and a 4×2 lossless VP8L image with alpha.
const LOSSY_WEBP =
  'UklGRkgAAABXRUJQVlA4IDwAAADQAQCdASoQABAAAMASJaACdLoB+AADsAD+5Gf//Q5//1y1//6UWb/1lfz0f7wF/+aDf/toH9ZRQr0OAAA=';
const LOSSLESS_WEBP =
  'UklGRkwAAABXRUJQVlA4TEAAAAAvA0AAED9ApG0zE6Pzr/D0NsgELOYVYun0r4BAEIIj7fUagaSN1Z7sPPkDjvdPZjVJkm2BUACNscQSS7+I/gcb';
const webpSeeds = () => [fromBase64(LOSSY_WEBP), fromBase64(LOSSLESS_WEBP)];

const PNG_MAGIC = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);
const JPEG_MAGIC = Uint8Array.from([0xff, 0xd8, 0xff]);
const WEBP_MAGIC = Uint8Array.from([...ascii('RIFF'), 0, 2, 0, 0, ...ascii('WEBP')]);

describe('fuzzing the image decoders', () => {
  it('decodes or refuses with a typed error every mutated and random PNG', async () => {
    const seeds = await pngSeeds();
    await expectOnlyTypedOutcomes('png', { seeds, magic: [PNG_MAGIC], fix: fixPngCrcs }, decodePng);
  }, 15_000);

  it('decodes or refuses with a typed error every mutated and random JPEG', async () => {
    await expectOnlyTypedOutcomes('jpeg', { seeds: jpegSeeds(), magic: [JPEG_MAGIC] }, decodeJpeg);
  }, 15_000);

  it('decodes or refuses with a typed error every mutated and random WebP', async () => {
    await expectOnlyTypedOutcomes('webp', { seeds: webpSeeds(), magic: [WEBP_MAGIC] }, decodeWebp);
  }, 15_000);

  it('sniffs, decodes and orients or refuses every mutated image of any of the three formats', async () => {
    const seeds = [...(await pngSeeds()), ...jpegSeeds(), ...webpSeeds()];
    const magic = [PNG_MAGIC, JPEG_MAGIC, WEBP_MAGIC];
    await expectOnlyTypedOutcomes('image', { seeds, magic }, (b) => decodeImage(b, 'fuzz'));
  }, 15_000);
});

// ---------- embeddings ----------

const embedding = { token: '<t>', vectors: Float32Array.from({ length: 2 * 8 }, (_, i) => i / 8), count: 2, dim: 8 };
const torchFixtures = () => Promise.all(['a1111.pt', 'official.pt', 'diffusers.bin'].map(readFixture));
/** The pickle of a torch.save zip, and a function putting another pickle in its place. */
const pickleOf = (zip: Uint8Array) => {
  const entries = readZipEntries(zip, 'fixture');
  const pkl = [...entries.keys()].find((n) => n.endsWith('data.pkl'))!;
  const rezip = (p: Uint8Array) =>
    storedZip([...entries].map(([name, data]) => ({ name, data: name === pkl ? p : data! })));
  return { pickle: entries.get(pkl)!, rezip };
};

describe('fuzzing the embedding readers', () => {
  it('reads or refuses with a typed error every mutated and random safetensors file', async () => {
    const seeds = (['diffusers', 'kohya', 'a1111'] as const).map((l) => writeEmbedding({ ...embedding, step: 3 }, l));
    await expectOnlyTypedOutcomes(
      'safetensors',
      { seeds, magic: [Uint8Array.of(64, 0, 0, 0, 0, 0, 0, 0, 0x7b)] },
      (b) => {
        const file = readSafetensors(b, 'fuzz.safetensors');
        for (const t of file.tensors) if (['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) file.float32(t.name);
        return readEmbedding(b, { fileName: 'fuzz.safetensors' });
      },
    );
  }, 15_000);

  it('reads or refuses with a typed error every mutated and random torch.save zip', async () => {
    const seeds = await torchFixtures();
    const magic = [Uint8Array.of(0x50, 0x4b, 0x03, 0x04)];
    await expectOnlyTypedOutcomes('pt-zip', { seeds, magic }, (b) => readEmbedding(b, { fileName: 'fuzz.pt' }));
  }, 15_000);

  it('unpickles or refuses with a typed error every mutated and random pickle', async () => {
    const seeds = (await torchFixtures()).map((z) => pickleOf(z).pickle);
    await expectOnlyTypedOutcomes('pickle', { seeds, magic: [Uint8Array.of(0x80, 2)] }, (b) =>
      unpickle(b, 'fuzz.pkl', { persistentLoad: (pid) => pid }),
    );
  }, 15_000);

  it('loads or refuses with a typed error a torch.save zip around every mutated pickle', async () => {
    const fixtures = (await torchFixtures()).map(pickleOf);
    const seeds = fixtures.map((x) => x.pickle);
    // The pickle's own first opcode picks the archive it goes back into, so each case is still one byte string.
    await expectOnlyTypedOutcomes('pt-pickle', { seeds }, (b) => {
      const zip = fixtures[(b[2] ?? 0) % fixtures.length].rezip(b);
      torchLoad(zip, 'fuzz.pt');
      return readEmbedding(zip, { fileName: 'fuzz.pt' });
    });
  }, 15_000);
});

// ---------- msgpack frames ----------

const frames: Frame[] = [
  { type: 'progress', runId: 'r', step: 1, of: 4, phase: 'denoise', elapsedMs: 12.5 },
  {
    type: 'latent',
    runId: 'r',
    step: 1,
    of: 4,
    timestep: 981,
    tensor: { dtype: 'float32', dims: [1, 2], data: new Uint8Array(8) },
  },
  { type: 'image', runId: 'r', index: 0, width: 1, height: 1, png: Uint8Array.of(137, 80, 78, 71) },
  { type: 'done', runId: 'r', summary: { seed: 7, steps: [1, 2, 3], nested: { a: { b: 'c' } } } },
];

/** The bytes as a stream of chunks whose sizes follow from the input, so a case is still one byte string. */
async function* chunked(b: Uint8Array) {
  const size = 1 + (b.length % 13);
  for (let at = 0; at < b.length; at += size) yield b.subarray(at, at + size);
}

describe('fuzzing the msgpack frame decoder', () => {
  it('decodes or refuses with a typed error every mutated and random frame stream', async () => {
    const encoder = new Encoder({ ignoreUndefined: true });
    const all = frames.map((x) => encoder.encode(x));
    const seeds = [...all, Uint8Array.from(all.flatMap((x) => [...x]))];
    await expectOnlyTypedOutcomes('msgpack', { seeds, magic: [Uint8Array.of(0x85)] }, async (b) => {
      for await (const _ of decodeFrames(chunked(b)));
    });
  }, 15_000);

  it('decodes or refuses with bad_request or too_large every mutated request body, under small limits', async () => {
    const encoder = new Encoder({ ignoreUndefined: true });
    const description = { model: 'tiny', stages: [{ stage: 'encode-training-images', settings: { size: 64 } }] };
    const body = Uint8Array.from([description, ...frames].flatMap((x) => [...encoder.encode(x)]));
    // Limits just above the seed's sizes, so mutations cross them as often as they stay under.
    const small = { firstBytes: 96, valueBytes: 160, totalBytes: body.length + 64 };
    await expectOnlyTypedOutcomes('msgpack-body', { seeds: [body], magic: [Uint8Array.of(0x82)] }, async (b) => {
      for await (const _ of decodeMsgpackValues(chunked(b), small));
    });
  }, 15_000);
});

// ---------- ONNX ----------

/** A small model touching every message kind the reader interprets: attributes of each type, a subgraph. */
const smallModel = () => {
  const inner = new GraphBuilder();
  const c = inner.input('c', 'float32', [2]);
  inner.output(inner.op('Neg', [c]), 'float32', [2], 'n');
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['batch', 2]);
  const w = b.initializer('w', float32([2, 2], [1, 2, 3, 4]));
  const y = b.op('MatMul', [x, w]);
  const z = b.op('LeakyRelu', [y], { alpha: f(0.5) });
  b.op('Slice', [z], { ends: [2 ** 63, -1], name: 's' });
  b.op('If', [z], { then_branch: inner.toModel().graph, else_branch: inner.toModel().graph });
  b.output(z, 'float32', ['batch', 2], 'y');
  return encodeModel(b.toModel(17));
};

describe('fuzzing the ONNX reader', () => {
  it('decodes or refuses with bad_model every mutated and random ONNX file', async () => {
    const seeds = [smallModel(), buildUnet(tinyUnetConfig).model];
    await expectOnlyTypedOutcomes('onnx', { seeds, magic: [Uint8Array.of(0x08, 0x07, 0x3a)] }, decodeModel);
  }, 15_000);
});

afterAll(() => {
  const grown = peakRss - startRss;
  console.log(`fuzz-decoders: seed ${SEED}, peak RSS growth ${(grown / 2 ** 20).toFixed(0)} MiB`);
});

describe('the fuzzing run as a whole', () => {
  it('kept resident memory within its bound', () => {
    expect(peakRss - startRss).toBeLessThan(RSS_GROWTH_BOUND);
  });
});
