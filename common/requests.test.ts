import { describe, expect, it } from 'bun:test';
import { PipelineError } from './errors.ts';
import { parseGenerateRequest } from './requests.ts';

const failureOf = (value: unknown): PipelineError => {
  try {
    parseGenerateRequest(value);
  } catch (e) {
    if (e instanceof PipelineError) return e;
    throw e;
  }
  throw new Error('expected the request to be rejected');
};

describe('GenerateRequest', () => {
  it('fills every default when only a prompt is given', () => {
    expect(parseGenerateRequest({ prompt: 'a photo of <cat-toy>' })).toEqual({
      model: 'tiny',
      prompt: 'a photo of <cat-toy>',
      negativePrompt: '',
      steps: 50,
      guidance: 7.5,
      seed: 0,
      width: null,
      height: null,
      eta: 0,
      sampler: null,
      previewEvery: 1,
      embeddings: [],
      lora: [],
      device: 'cpu',
      originalSize: null,
      crop: null,
      targetSize: null,
    });
  });

  it('keeps given values', () => {
    const r = parseGenerateRequest({
      prompt: 'x',
      steps: 30,
      width: 512,
      height: 768,
      device: 'cuda',
      embeddings: ['a.safetensors'],
    });
    expect([r.steps, r.width, r.height, r.device, r.embeddings]).toEqual([30, 512, 768, 'cuda', ['a.safetensors']]);
  });

  it('names the field and the bound when a number is out of range', () => {
    const e = failureOf({ prompt: 'x', steps: 2000 });
    expect(e.code).toBe('bad_request');
    expect(e.message).toBe('steps: must be ≤ 1000');
    expect(e.details?.field).toBe('steps');
  });

  it('rejects a missing or blank prompt', () => {
    expect(failureOf({}).message).toBe('prompt: is required');
    expect(failureOf({ prompt: '   ' }).message).toBe('prompt: must not be empty');
  });

  it('rejects sizes that are not multiples of 8 and fractional steps', () => {
    expect(failureOf({ prompt: 'x', width: 500 }).message).toBe('width: must be a multiple of 8');
    expect(failureOf({ prompt: 'x', steps: 1.5 }).message).toBe('steps: must be an integer');
    expect(failureOf({ prompt: 'x', seed: -1 }).message).toBe('seed: must be ≥ 0');
  });

  it('names an array element and lists the allowed values of an enum', () => {
    expect(failureOf({ prompt: 'x', embeddings: [3] }).message).toBe('embeddings[0]: must be a string');
    expect(failureOf({ prompt: 'x', device: 'gpu' }).message).toBe('device: must be one of "cpu", "cuda"');
  });

  it('takes a sampler by name and refuses one it does not know, naming the field', () => {
    expect(parseGenerateRequest({ prompt: 'x', sampler: 'dpm++2m-karras' }).sampler).toBe('dpm++2m-karras');
    expect(failureOf({ prompt: 'x', sampler: 'heun' }).message).toMatch(/^sampler: must be one of "ddim", /);
  });

  it('rejects an unknown field so a typo is not silently ignored', () => {
    const e = failureOf({ prompt: 'x', step: 20 });
    expect(e.message).toBe('step: is not a known field');
    expect(e.details?.field).toBe('step');
  });

  it('reports every issue in details, the first one in the message', () => {
    const e = failureOf({ prompt: '', steps: 0 });
    expect(e.details?.issues).toEqual([
      { field: 'prompt', message: 'must not be empty' },
      { field: 'steps', message: 'must be ≥ 1' },
    ]);
  });

  it('rejects a body that is not an object', () => {
    expect(failureOf(null).code).toBe('bad_request');
    expect(failureOf([1]).message).toBe('request must be an object');
  });
});
