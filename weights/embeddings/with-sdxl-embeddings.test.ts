import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { loadEmbeddingsInto } from '../../adapters/load-embeddings.ts';
import { openModel } from '../../adapters/open-model.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { tensorFromWire, type Frame } from '../../common/frames.ts';
import { parseGenerateRequest } from '../../common/requests.ts';
import { tensor } from '../../common/tensor.ts';
import { runGenerate } from '../../pipeline/generate.ts';
import type { PipelineError } from '../../common/errors.ts';
import { decodeModel } from '../onnx/proto.ts';
import { readTensorProto } from '../onnx/tensor-proto.ts';
import { readEmbedding, writeEmbedding } from './embedding-file.ts';
import { withEmbeddings } from './with-embeddings.ts';

const xl = await openModel('tiny-xl');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The error a promise rejects with; fails if it resolves. */
const rejection = async (p: Promise<unknown>): Promise<PipelineError> => {
  try {
    await p;
  } catch (e) {
    return e as PipelineError;
  }
  throw new Error('expected an error');
};
const ramp = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) / 2);
/** An SDXL file for `<tok>` of `count` vectors with the given widths, read back as `readEmbedding` gives it. */
const sdxlEmbedding = (w1: number, w2: number, count = 1, token = '<tok>') =>
  readEmbedding(
    writeEmbedding({
      token,
      vectors: ramp(count * w1, 1),
      count,
      dim: w1,
      clipG: { vectors: ramp(count * w2, 2), dim: w2 },
    }),
    { fileName: `${token}.safetensors` },
  );
const positions = async (component: string) => {
  const g = decodeModel((await xl.files.readBytes(`${component}/model.onnx`))!).graph;
  return readTensorProto(g.initializers.find((t) => t.name === 'text_model.embeddings.position_embedding.weight')!)
    .data as Float32Array;
};

describe('SDXL embeddings ({clip_l, clip_g}) on tiny-xl', () => {
  test("put clip_l's vectors into text_encoder and clip_g's into text_encoder_2 where the prompt names the token", async () => {
    const e = sdxlEmbedding(32, 64, 2);
    const m = await withEmbeddings(xl, [e], ortSessionFactory);
    try {
      for (const [component, tok, w, vectors] of [
        ['text_encoder', m.tokenizer, 32, e.vectors],
        ['text_encoder_2', m.tokenizer2!, 64, e.clipG!.vectors],
      ] as const) {
        const ids = tok.tokenize('a <tok> star').ids;
        const at = ids.indexOf(tok.idOf('<tok>')!);
        expect(ids[at + 1]).toBe(tok.idOf('<tok>_1')!); // two vectors: <tok> expands to <tok> <tok>_1
        const session = await m.session(component);
        const out = await session.run({ input_ids: tensor('int32', [1, 77], Int32Array.from(ids)) }, [
          'hidden_states.0',
        ]);
        const h0 = out['hidden_states.0'].data as Float32Array;
        const pos = await positions(component);
        // hidden_states.0 is the token vector plus the position embedding, so the loaded rows show through exactly.
        for (let v = 0; v < 2; v++)
          for (let i = 0; i < w; i++)
            expect(h0[(at + v) * w + i] - pos[(at + v) * w + i]).toBeCloseTo(vectors[v * w + i], 6);
      }
    } finally {
      await m.release();
    }
  });

  test('refuses an SD1-style file on an SDXL model, naming both widths', async () => {
    const sd1 = {
      ...readEmbedding(writeEmbedding({ token: '<a>', vectors: ramp(768, 1), count: 1, dim: 768 }), {
        fileName: 'a.safetensors',
      }),
      fileName: 'a.safetensors',
    };
    const err = await rejection(withEmbeddings(xl, [sd1], ortSessionFactory));
    expect(err.code).toBe('bad_embedding');
    expect(err.message).toBe(
      "embedding file a.safetensors (token '<a>') holds [1, 768] (an SD1/SD2 embedding), but this SDXL model takes clip_l [n, 32] and clip_g [n, 64]",
    );
  });

  test("refuses an SDXL file whose widths are another model's, naming both", async () => {
    const real = sdxlEmbedding(768, 1280);
    const err = await rejection(withEmbeddings(xl, [real], ortSessionFactory));
    expect(err.code).toBe('bad_embedding');
    expect(err.message).toContain(
      'holds clip_l [1, 768] and clip_g [1, 1280], but this SDXL model takes clip_l [n, 32] and clip_g [n, 64]',
    );
  });

  test('refuses an SDXL file on an SD1 model, naming both of its widths and the model’s', async () => {
    const tiny = await openModel('tiny');
    const err = await rejection(withEmbeddings(tiny, [sdxlEmbedding(32, 64)], ortSessionFactory));
    expect(err.code).toBe('bad_embedding');
    expect(err.message).toContain(
      'is an SDXL embedding (clip_l [1, 32] and clip_g [1, 64]), but this model has one text encoder of width 64',
    );
  });

  test('generate --embeddings draws the token on tiny-xl: the image changes with the file, and not without the token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pseudoword-xl-emb-'));
    dirs.push(dir);
    const file = join(dir, '<tok>.safetensors');
    writeFileSync(
      file,
      writeEmbedding({
        token: '<tok>',
        vectors: ramp(32, 3),
        count: 1,
        dim: 32,
        clipG: { vectors: ramp(64, 5), dim: 64 },
      }),
    );
    const latent = async (prompt: string, embeddings: string[]) => {
      const request = parseGenerateRequest({ model: 'tiny-xl', prompt, steps: 2, sampler: 'ddim', embeddings });
      const fs = await lastValueFrom(
        runGenerate(request, { openModel: async () => xl, withEmbeddings: loadEmbeddingsInto }).pipe(toArray()),
      );
      const last = fs.filter((f) => f.type === 'latent').at(-1) as Extract<Frame, { type: 'latent' }>;
      return Array.from(tensorFromWire(last.tensor).data as Float32Array);
    };
    const plain = await latent('a star', []);
    expect(await latent('a star', [file])).toEqual(plain);
    expect(await latent('a <tok> star', [file])).not.toEqual(plain);
  });
});
