import { describe, expect, it } from 'bun:test';
import type { PipelineError } from '../../common/errors.ts';
import type { TrainState } from '../../common/train/train-state.ts';
import {
  changedSettings,
  checkpointFiles,
  readCheckpointState,
  stateFile,
  stateFileName,
  type CheckpointIdentity,
} from './checkpoint-files.ts';

const id: CheckpointIdentity = {
  token: '<t>',
  count: 1,
  dim: 3,
  seed: 7,
  model: 'abc',
  settings: { lr: 0.005, schedule: 'constant', warmup: 0, steps: 100 },
};
const state: TrainState = {
  step: 4,
  vectors: new Float32Array([0.5, -1, 2]),
  optimizer: { step: 4, m: new Float64Array([1e-9, 2, 3]), v: new Float64Array([4, 5, 1 / 3]) },
  last: { loss: 0.1, lr: 0.005, gradNorm: 1 },
};
const withSettings = (s: Partial<NonNullable<CheckpointIdentity['settings']>>, seed = id.seed) => ({
  ...id,
  seed,
  settings: { ...id.settings!, ...s },
});

describe('checkpoint files', () => {
  it('list the state last, so it is written after both embedding files', () => {
    expect(Object.keys(checkpointFiles(state, id, 'diffusers', false))).toEqual([
      'learned_embeds-steps-4.safetensors',
      'learned_embeds.safetensors',
      stateFileName,
    ]);
    expect(Object.keys(checkpointFiles(state, id, 'diffusers', true))).toEqual([
      'learned_embeds.safetensors',
      stateFileName,
    ]);
  });

  it('read back the exact state, with the seed and settings it was made with recorded', () => {
    const bytes = stateFile(state, id);
    expect(JSON.parse(new TextDecoder().decode(bytes))).toMatchObject({ seed: 7, settings: id.settings });
    expect(readCheckpointState(bytes, id)).toEqual(state);
  });

  it('name every changed seed, lr and schedule field; the length counts only for a decaying schedule', () => {
    const saved = { seed: 7, settings: id.settings };
    expect(changedSettings(saved, id)).toEqual([]);
    expect(changedSettings(saved, withSettings({ steps: 5000 }))).toEqual([]); // constant: more steps are fine
    expect(changedSettings(saved, withSettings({ lr: 0.01, warmup: 10 }, 8)).map((c) => c.field)).toEqual([
      'seed',
      'lr',
      'warmup',
    ]);
    expect(changedSettings(saved, withSettings({ schedule: 'cosine', steps: 200 }))).toEqual([
      { field: 'schedule', was: 'constant', now: 'cosine' },
      { field: 'steps', was: 100, now: 200 },
    ]);
    const cosine = { seed: 7, settings: { ...id.settings!, schedule: 'linear' } };
    expect(changedSettings(cosine, withSettings({ schedule: 'linear', steps: 101 })).map((c) => c.field)).toEqual([
      'steps',
    ]);
  });

  it('refuse a resume with changes, naming them, unless allowed', () => {
    const bytes = stateFile(state, id);
    const changed = withSettings({ lr: 0.05, schedule: 'linear' }, 1);
    let error: unknown;
    try {
      readCheckpointState(bytes, changed);
    } catch (e) {
      error = e;
    }
    const e = error as PipelineError;
    expect([e.code, e.details]).toEqual(['bad_request', { field: 'seed', changed: ['seed', 'lr', 'schedule'] }]);
    expect(e.message).toContain('seed was 7, now 1; lr was 0.005, now 0.05; schedule was "constant", now "linear"');
    expect(e.message).toContain('--resume-with-changes');
    expect(readCheckpointState(bytes, changed, { allowChanges: true })).toEqual(state);
  });

  it('read states written before settings were recorded: only the seed, which they always held, is compared', () => {
    const { settings: _, ...old } = id;
    const bytes = stateFile(state, old);
    expect(readCheckpointState(bytes, withSettings({ lr: 1 }))).toEqual(state);
    expect(() => readCheckpointState(bytes, withSettings({}, 8))).toThrow('seed was 7, now 8');
  });
});
