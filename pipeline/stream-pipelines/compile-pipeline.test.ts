import { describe, expect, it } from 'bun:test';
import { map } from 'rxjs';
import { z } from 'zod';
import { PipelineError } from '../../common/errors.ts';
import { stageRegistry } from './built-in-stages.ts';
import { compilePipeline } from './compile-pipeline.ts';
import { defineStage } from './stage-definition.ts';

/** The PipelineError a description fails with (compilePipeline must reject, never resolve). */
const failure = async (desc: unknown, o?: Parameters<typeof compilePipeline>[1]): Promise<PipelineError> => {
  const e = await compilePipeline(desc, o).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(e).toBeInstanceOf(PipelineError);
  return e as PipelineError;
};

describe('compilePipeline', () => {
  it('resolves built-in stages, fills defaults and reports the kinds the pipeline takes and emits', async () => {
    const p = await compilePipeline({ stages: [{ use: 'decode-image' }, { use: 'vae-encode', with: { seed: 3 } }] });
    expect(p.description).toMatchObject({ kind: 'stream', model: 'tiny', device: 'cpu' });
    expect([p.input, p.output]).toEqual(['image-file', 'latent']);
    expect(p.stages.map((s) => s.settings)).toEqual([{ resolution: null }, { sample: 'mean', seed: 3 }]);
  });

  it('names the index, the stage and the field of an unknown stage', async () => {
    const e = await failure({ stages: [{ use: 'decode-image' }, { use: 'vae-encoder' }] });
    expect(e.code).toBe('bad_request');
    expect(e.message).toStartWith(
      "stages[1] (vae-encoder): unknown stage 'vae-encoder'; known stages: decode-image, vae-encode",
    );
    expect(e.details).toMatchObject({ field: 'stages[1].use', stage: 1, use: 'vae-encoder' });
  });

  it('names the index, the stage and the field of a bad setting', async () => {
    const e = await failure({ stages: [{ use: 'decode-image' }, { use: 'vae-encode', with: { sample: 'mode' } }] });
    expect(e.message).toBe('stages[1] (vae-encode): with.sample: must be one of "mean", "sample"');
    expect(e.details).toMatchObject({ field: 'stages[1].with.sample', stage: 1 });
    const unknown = await failure({ stages: [{ use: 'noise-to-strength', with: { strenght: 0.5 } }] });
    expect(unknown.message).toBe('stages[0] (noise-to-strength): with.strenght: is not a known field');
    const range = await failure({ stages: [{ use: 'noise-to-strength', with: { strength: 1.5 } }] });
    expect(range.details?.field).toBe('stages[0].with.strength');
  });

  it('refuses a stage that does not take what the stage before it emits, naming both', async () => {
    const e = await failure({ stages: [{ use: 'decode-image' }, { use: 'vae-decode' }] });
    expect(e.message).toBe("stages[1] (vae-decode): takes 'latent' but stages[0] (decode-image) emits 'image'");
    expect(e.details?.field).toBe('stages[1].use');
  });

  it('refuses a source anywhere but first', async () => {
    const e = await failure({ stages: [{ use: 'decode-image' }, { use: 'generate', with: { prompt: 'x' } }] });
    expect(e.message).toContain('stages[1] (generate): is a source');
  });

  it('names the field of a malformed description', async () => {
    expect((await failure({ kind: 'stream', stages: [] })).details?.field).toBe('stages');
    expect((await failure({ kind: 'generate', stages: [{ use: 'vae-decode' }] })).details?.field).toBe('kind');
    expect((await failure({ stages: [{ with: {} }] })).message).toBe('stages[0].use: is required');
  });

  it('loads a module stage through loadStage, and refuses module paths without one', async () => {
    const flip = defineStage({
      name: 'flip-sign',
      summary: 'z ↦ −z',
      input: 'latent',
      output: 'latent',
      settings: z.object({}),
      create: (_settings) => map((l) => ({ ...l, latents: { ...l.latents, data: l.latents.data.map((v) => -v) } })),
    });
    const asked: string[] = [];
    const p = await compilePipeline(
      { stages: [{ use: './flip.ts' }, { use: 'vae-decode' }] },
      { loadStage: async (ref) => (asked.push(ref), { default: flip }) },
    );
    expect(asked).toEqual(['./flip.ts']);
    expect(p.stages[0].stage.name).toBe('flip-sign');
    expect((await failure({ stages: [{ use: './flip.ts' }] })).message).toBe(
      'stages[0] (./flip.ts): stages from modules cannot be loaded here',
    );
  });

  it('says what a module lacks when it is not a stage, and what went wrong when it cannot load', async () => {
    const notStage = await failure(
      { stages: [{ use: './x.ts' }] },
      { loadStage: async () => ({ default: { input: 'latent', settings: z.object({}) } }) },
    );
    expect(notStage.message).toContain('lacks output, create');
    const broken = await failure(
      { stages: [{ use: './x.ts' }] },
      {
        loadStage: async () => {
          throw new Error('SyntaxError: Unexpected token');
        },
      },
    );
    expect(broken.message).toBe('stages[0] (./x.ts): cannot load the module: SyntaxError: Unexpected token');
  });

  it('lets a host replace a built-in in the registry', async () => {
    const mine = defineStage({
      name: 'vae-decode',
      summary: '',
      input: 'latent',
      output: 'frame',
      settings: z.object({}),
      create: (_settings) => map(() => ({ type: 'done' as const, runId: 'r', summary: {} })),
    });
    const p = await compilePipeline({ stages: [{ use: 'vae-decode' }] }, { registry: stageRegistry([mine]) });
    expect(p.output).toBe('frame');
  });
});
