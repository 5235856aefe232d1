import { describe, expect, it } from 'bun:test';
import { decode, encode } from '@msgpack/msgpack';
import { type Frame, parseFrame, tensorFromWire, tensorToWire, type FrameOf } from './frames.ts';
import { PipelineError } from './errors.ts';
import { tensor, type Tensor } from './tensor.ts';

const onTheWire = (f: Frame): Frame => parseFrame(decode(encode(f, { ignoreUndefined: true })));
const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

const everyKind: Frame[] = [
  {
    type: 'latent',
    runId: 'r1',
    step: 3,
    of: 50,
    timestep: 941,
    tensor: tensorToWire(tensor('float32', [1, 2], new Float32Array([0.5, -1]))),
  },
  {
    type: 'preview',
    runId: 'r1',
    step: 3,
    of: 50,
    kind: 'x0',
    width: 1,
    height: 1,
    format: 'rgba',
    data: new Uint8Array([1, 2, 3, 255]),
  },
  { type: 'image', runId: 'r1', index: 0, width: 64, height: 64, png },
  { type: 'progress', runId: 'r1', step: 3, of: 50, phase: 'denoise', elapsedMs: 1234.5, itPerSec: 2.5 },
  { type: 'done', runId: 'r1', summary: { seed: 7, paths: ['a.png'] } },
  { type: 'error', runId: 'r1', code: 'numeric', message: 'loss is NaN', details: { step: 4 } },
  { type: 'loss', runId: 't1', step: 10, loss: 0.125, lr: 5e-3, gradNorm: 0.75, embeddingNorm: 0.39 },
  {
    type: 'validation',
    runId: 't1',
    step: 500,
    loss: 0.1,
    images: [{ prompt: 'a photo of S*', width: 8, height: 8, png }],
  },
  { type: 'checkpoint', runId: 't1', step: 500, files: ['learned_embeds-500.safetensors'], bytes: 3200 },
];

describe('frames', () => {
  it('round-trips every kind of frame through msgpack unchanged', () => {
    for (const f of everyKind) expect(onTheWire(f)).toEqual(f);
  });

  it('keeps tensor bytes exact for every dtype, including NaN payloads, -0 and int64 extremes', () => {
    const tensors: Tensor[] = [
      tensor('float32', [2, 3], new Float32Array([0, -0, NaN, Infinity, 1e-45, -3.4e38])),
      tensor('float16', [2], new Uint16Array([0x3c00, 0x7e01])),
      tensor('float64', [2], new Float64Array([Math.PI, -Number.MIN_VALUE])),
      tensor('int64', [2], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])),
      tensor('int32', [1, 1, 2], new Int32Array([-2147483648, 49407])),
      tensor('int8', [3], new Int8Array([-128, 0, 127])),
      tensor('uint8', [2], new Uint8Array([0, 255])),
      tensor('bool', [2], new Uint8Array([1, 0])),
      tensor('float32', [0, 4], new Float32Array(0)),
    ];
    for (const t of tensors) {
      const f = onTheWire({
        type: 'latent',
        runId: 'r',
        step: 1,
        of: 1,
        timestep: 1,
        tensor: tensorToWire(t),
      }) as FrameOf<'latent'>;
      const back = tensorFromWire(f.tensor);
      expect(back.dtype).toBe(t.dtype);
      expect(back.dims).toEqual(t.dims);
      expect(back.data.constructor).toBe(t.data.constructor);
      expect(new Uint8Array(back.data.buffer, back.data.byteOffset, back.data.byteLength)).toEqual(
        new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      );
    }
  });

  it('writes tensor data little-endian', () => {
    const w = tensorToWire(tensor('int32', [1], new Int32Array([0x01020304])));
    expect([...w.data]).toEqual([4, 3, 2, 1]);
  });

  it('reads a tensor from bytes at an unaligned offset into memory it owns', () => {
    const backing = new Uint8Array([9, 0, 0, 128, 63]); // float32 1.0 starts at offset 1
    const t = tensorFromWire({ dtype: 'float32', dims: [1], data: backing.subarray(1) });
    expect([...(t.data as Float32Array)]).toEqual([1]);
    backing[4] = 0;
    expect([...(t.data as Float32Array)]).toEqual([1]);
  });

  it('rejects a wire tensor whose byte length does not fit its dims with shape_mismatch', () => {
    expect(() => tensorFromWire({ dtype: 'float32', dims: [2], data: new Uint8Array(4) })).toThrow(
      'wire tensor has 4 bytes, float32[2] needs 8',
    );
  });

  it('leaves out an optional field that is undefined instead of sending nil', () => {
    const f: Frame = {
      type: 'progress',
      runId: 'r',
      step: 1,
      of: 2,
      phase: 'denoise',
      elapsedMs: 5,
      itPerSec: undefined,
    };
    expect(onTheWire(f)).toEqual({ type: 'progress', runId: 'r', step: 1, of: 2, phase: 'denoise', elapsedMs: 5 });
  });

  it('rejects a malformed frame with an io error naming the type and field', () => {
    const bad = {
      type: 'latent',
      runId: 'r',
      step: 1,
      of: 1,
      timestep: 1,
      tensor: { dtype: 'float32', dims: [3], data: new Uint8Array(4) },
    };
    let caught: unknown;
    try {
      parseFrame(bad);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PipelineError);
    expect((caught as PipelineError).code).toBe('io');
    expect((caught as PipelineError).message).toBe(
      'bad latent frame: tensor.data: data length does not match dtype and dims',
    );
  });

  it('rejects an unknown frame type, an unknown error code and rgba data of the wrong size', () => {
    expect(() => parseFrame({ type: 'telemetry', runId: 'r' })).toThrow(PipelineError);
    expect(() => parseFrame({ type: 'error', runId: 'r', code: 'oops', message: 'm' })).toThrow(PipelineError);
    const preview = { ...everyKind[1], width: 2 };
    expect(() => parseFrame(preview)).toThrow('rgba data length is not width × height × 4');
  });
});
