import { describe, expect, it } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStageBeside } from '../../adapters/load-user-stage.ts';
import { compilePipeline } from './compile-pipeline.ts';
import { pipelineJsonSchema, stageInfos } from './json-schema.ts';

const root = join(import.meta.dir, '../..');
const examples = join(root, 'examples/pipelines');

describe('the published pipeline schema', () => {
  it('is up to date in docs/pipeline.schema.json (regenerate: pseudoword run --schema > docs/pipeline.schema.json)', () => {
    expect(readFileSync(join(root, 'docs/pipeline.schema.json'), 'utf8')).toBe(
      `${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`,
    );
  });

  it('offers each built-in stage with its own settings, and module paths beside them', () => {
    const items = (pipelineJsonSchema() as any).properties.stages.items.anyOf as {
      properties: { use: { const?: string; pattern?: string } };
    }[];
    expect(items.map((i) => i.properties.use.const ?? 'module')).toEqual([
      ...stageInfos().map((s) => s.name),
      'module',
    ]);
    const strength = (items[3] as any).properties.with.properties.strength;
    expect(strength).toMatchObject({ type: 'number', minimum: 0, maximum: 1, default: 0.8 });
  });

  it('is what every example pipeline follows: each compiles, user stages included', async () => {
    const files = readdirSync(examples).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) {
      const p = await compilePipeline(JSON.parse(readFileSync(join(examples, f), 'utf8')), {
        loadStage: loadStageBeside(join(examples, f)),
      });
      expect(p.stages.length).toBeGreaterThan(0);
    }
  });
});
