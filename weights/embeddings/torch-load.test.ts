import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEmbedding } from './embedding-file.ts';
import { type TorchTensor, torchLoad } from './torch-load.ts';
import { PyObject, unpickle } from './unpickle.ts';
import { errorOf } from '../../test/support/error-of.ts';

// Written by test/fixtures/embeddings/make-torch-files.py: Python's own pickler and zipfile, torch's layout.
const fixture = (name: string) =>
  new Uint8Array(readFileSync(join(import.meta.dir, '../../test/fixtures/embeddings', name)));
const vectors = Float32Array.from({ length: 8 }, (_, i) => (i - 3) / 8);

describe('loading torch.save files', () => {
  test("reads A1111's dict with its name, step and checkpoint strings", () => {
    const data = torchLoad(fixture('a1111.pt'), 'a1111.pt') as Map<string, unknown>;
    expect([...data.keys()]).toEqual([
      'string_to_token',
      'string_to_param',
      'name',
      'step',
      'sd_checkpoint',
      'sd_checkpoint_name',
    ]);
    expect([
      data.get('name'),
      data.get('step'),
      data.get('sd_checkpoint'),
      (data.get('string_to_token') as Map<string, unknown>).get('*'),
    ]).toEqual(['cat-toy', 1500, 'a9263745', 265]);
    const t = (data.get('string_to_param') as Map<string, unknown>).get('*') as TorchTensor;
    expect([t.dtype, t.shape, t.values]).toEqual(['FloatStorage', [2, 4], vectors]);
  });

  test("reads the official repo's ParameterDict, a float16 parameter and a 0-d int64 tensor", () => {
    const data = torchLoad(fixture('official.pt'), 'official.pt') as Map<string, unknown>;
    const id = (data.get('string_to_token') as Map<string, unknown>).get('*') as TorchTensor;
    expect([id.shape, id.values]).toEqual([[], [265]]);
    const pd = data.get('string_to_param') as PyObject;
    expect(pd.type).toBe('torch.nn.modules.container.ParameterDict');
    const p = ((pd.state as Map<string, unknown>).get('_parameters') as Map<string, unknown>).get('*') as TorchTensor;
    expect([p.dtype, p.shape, Array.from(p.values)]).toEqual(['HalfStorage', [1, 4], [1, -2, 0.5, 65504]]);
  });

  test('follows storage offsets and strides, in a zip64-ended archive', () => {
    const data = torchLoad(fixture('diffusers.bin'), 'diffusers.bin') as Map<string, unknown>;
    // Storage 100…108, offset 1, strides [1, 2]: element [i][j] = 101 + i + 2j.
    expect(Array.from((data.get('<cat-toy>') as TorchTensor).values)).toEqual([101, 103, 105, 107, 102, 104, 106, 108]);
  });
});

describe('reading .pt and .bin embeddings', () => {
  test('reads an A1111 .pt with the token and step it stores', () => {
    expect(readEmbedding(fixture('a1111.pt'), { fileName: 'renamed.pt' })).toEqual({
      token: 'cat-toy',
      vectors,
      count: 2,
      dim: 4,
      step: 1500,
      layout: 'a1111',
    });
  });

  test("reads an official .pt, whose token is the file's name", () => {
    const e = readEmbedding(fixture('official.pt'), { fileName: 'embeddings_gs-6099.pt' });
    expect([e.token, e.count, e.dim, Array.from(e.vectors), e.layout]).toEqual([
      'embeddings_gs-6099',
      1,
      4,
      [1, -2, 0.5, 65504],
      'a1111',
    ]);
  });

  test('reads a diffusers .bin as its one key', () => {
    const e = readEmbedding(fixture('diffusers.bin'), { fileName: 'learned_embeds.bin' });
    expect([e.token, e.count, e.dim, e.layout]).toEqual(['<cat-toy>', 2, 4, 'diffusers']);
  });

  test('refuses a truncated .pt and a legacy pickle with clear messages', () => {
    const cut = fixture('a1111.pt').subarray(0, 400);
    expect(errorOf(() => readEmbedding(cut, { fileName: 'cut.pt' })).message).toBe(
      'cut.pt: truncated or corrupt zip archive (no end-of-central-directory record)',
    );
    const legacy = errorOf(() =>
      readEmbedding(Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8), {
        fileName: 'old.pt',
      }),
    );
    expect([legacy.code, legacy.message.startsWith('old.pt is a legacy (pre-1.6) PyTorch file')]).toEqual([
      'bad_embedding',
      true,
    ]);
  });
});

describe('the restricted unpickler', () => {
  test('builds inert records for globals it does not know, running nothing', () => {
    // pickle.dumps(os.system('x'), protocol=2) shape: GLOBAL 'os system', ('x',), REDUCE, STOP.
    const bytes = Uint8Array.of(
      0x80,
      2,
      0x63,
      ...new TextEncoder().encode('os\nsystem\n'),
      0x58,
      1,
      0,
      0,
      0,
      0x78,
      0x85,
      0x52,
      0x2e,
    );
    const v = unpickle(bytes, 'evil.pkl') as PyObject;
    expect([v instanceof PyObject, v.type, v.args]).toEqual([true, 'os.system', ['x']]);
  });

  test('reads negative and big LONG1 integers, and refuses an unknown opcode', () => {
    // LONG1 2 bytes ff 7f = 32767; LONG1 1 byte 80 = −128; LONG1 8 bytes 2**63 − 1 (kept exact as a bigint).
    const long = (b: number[]) => unpickle(Uint8Array.of(0x80, 2, 0x8a, b.length, ...b, 0x2e), 'l');
    const max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    expect([long([0xff, 0x7f]), long([0x80]), long(max)]).toEqual([32767, -128, 2n ** 63n - 1n]);
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x49), 'text.pkl')).message).toBe(
      'text.pkl: unsupported pickle opcode 0x49 at byte 2 (not a torch.save file?)',
    );
  });

  test('reports a pickle that underflows its stack or ends early as corrupt, not as a TypeError', () => {
    const underflow = errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x81, 0x2e), 'bad.pkl')); // NEWOBJ on an empty stack
    expect([underflow.code, underflow.message.startsWith('bad.pkl: corrupt pickle (')]).toEqual([
      'bad_embedding',
      true,
    ]);
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x58, 9, 0, 0, 0, 0x61), 'short.pkl')).message).toBe(
      'short.pkl: truncated pickle',
    );
  });
});
