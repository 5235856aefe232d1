import { describe, expect, test } from 'bun:test';
import { parseGenerateRequest } from '../../common/requests.ts';
import { PipelineError } from '../../common/errors.ts';
import { fromFlags, parse, withFlagName, type CommandSpec } from './args.ts';
import { editDistance, nearestName } from './nearest-name.ts';

const spec: CommandSpec = {
  name: 'demo-cmd',
  summary: 'a command for these tests',
  usage: 'demo-cmd [options]',
  options: {
    prompt: { type: 'string', help: 'the prompt' },
    steps: { type: 'string', default: '50', help: 'steps' },
    'negative-prompt': { type: 'string', help: 'what to avoid' },
    out: { type: 'string', short: 'o', help: 'where' },
    json: { type: 'boolean', help: 'JSON' },
  },
};
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as Error & { code: string };
  }
  throw new Error('expected a refusal');
};

describe('edit distance and the nearest name', () => {
  test('counts insertions, deletions and substitutions as one edit each', () => {
    expect(editDistance('promt', 'prompt')).toBe(1); // one insertion
    expect(editDistance('stpes', 'steps')).toBe(2); // a swap is two substitutions
    expect(editDistance('kitten', 'sitting')).toBe(3); // the textbook example
    expect(editDistance('', 'out')).toBe(3);
  });

  test('suggests the closest known name, a name it begins, and nothing for a different word', () => {
    const known = Object.keys(spec.options);
    expect(nearestName('promt', known)).toBe('prompt');
    expect(nearestName('negative', known)).toBe('negative-prompt');
    expect(nearestName('seed', known)).toBeUndefined();
  });
});

describe('parsing a command line', () => {
  test('refuses an unknown option, suggesting the nearest one', () => {
    const e = refusal(() => parse(spec, ['--promt', 'a cat']));
    expect(e.code).toBe('bad_request');
    expect(e.message).toBe("unknown option '--promt' — did you mean --prompt? (see 'pseudoword demo-cmd --help')");
    expect(refusal(() => parse(spec, ['--colour', 'red'])).message).not.toContain('did you mean');
  });

  test('takes a negative number after an option as its value, so the range check can name it', () => {
    expect(parse(spec, ['--steps', '-5']).values.steps).toBe('-5');
    expect(parse(spec, ['-o', '-0.5']).values.out).toBe('-0.5');
    expect(parse(spec, ['--steps', '-.5', 'x']).values.steps).toBe('-.5');
    // A word after an option is still refused as a missing value, and `--` still ends the options.
    expect(refusal(() => parse(spec, ['--prompt', '--json'])).code).toBe('bad_request');
    expect(parse(spec, ['--', '--promt']).positionals).toEqual(['--promt']);
  });

  test('names the flag, not the request field, when a request built from flags is refused', () => {
    const flags = { prompt: 'x', negativePrompt: 'y' };
    const steps = refusal(() => fromFlags(spec, () => parseGenerateRequest({ ...flags, steps: -5 })));
    expect(steps.message).toBe('--steps must be ≥ 1');
    const negative = refusal(() => fromFlags(spec, () => parseGenerateRequest({ ...flags, negativePrompt: 3 })));
    expect(negative.message).toBe('--negative-prompt must be a string');
    // A field no flag sets keeps its own name.
    const eta = refusal(() => fromFlags(spec, () => parseGenerateRequest({ ...flags, eta: 2 })));
    expect(eta.message).toBe('eta: must be ≤ 1');
  });

  test('names the flag in a run-time error that starts with a field, keeping its code', () => {
    const e = withFlagName(spec, new PipelineError('not_found', "out: '/x' is not a folder")) as PipelineError;
    expect([e.code, e.message]).toEqual(['not_found', "--out '/x' is not a folder"]);
    const other = new PipelineError('io', 'disk: full');
    expect(withFlagName(spec, other)).toBe(other);
  });
});
