import { describe, expect, it } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as evalCommand } from '../../adapters/cli/commands/eval.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { decodePng } from '../../common/image/png.ts';
import { agreement, qualityScenes } from './drawing-quality.ts';
import { recogniserAccuracy } from './recognise.ts';
import { renderScene } from './render.ts';
import { shapes } from './world.ts';
import { captureOutput } from '../../test/support/capture-output.ts';

const shippedRecogniser = new URL('../../weights/shipped/recogniser/model.onnx', import.meta.url);

describe('the drawing quality bar', () => {
  it('draws basic shapes only, the same scenes for a seed', () => {
    const a = qualityScenes(0, 20);
    expect(a.every((s) => (shapes as readonly string[]).includes(s.object))).toBe(true);
    expect(qualityScenes(0, 20)).toEqual(a);
    expect(qualityScenes(1, 20)).not.toEqual(a);
  });

  it('counts per attribute the images whose recognised label is the scene’s', () => {
    const [s] = qualityScenes(0, 1);
    const right = {
      labels: {
        object: s.object,
        colour: s.colour,
        size: s.size,
        position: s.position,
        pattern: s.background.pattern,
        background: s.background.colour,
      },
    };
    const wrong = {
      labels: {
        ...right.labels,
        colour: s.colour === 'red' ? 'blue' : 'red',
        position: s.position === 'left' ? 'right' : 'left',
      },
    };
    expect(agreement([right, wrong], [s, s])).toEqual({
      object: 1,
      colour: 0.5,
      size: 1,
      position: 0.5,
      pattern: 1,
      background: 1,
    });
  });

  it.if(existsSync(shippedRecogniser))(
    'runs as `eval --drawing` and reads the real scenes as the recogniser does',
    async () => {
      const out = mkdtempSync(join(tmpdir(), 'pw-drawing-'));
      try {
        const { out: table } = await captureOutput(() =>
          evalCommand(['--drawing', '--model', 'tiny', '--prompts', '3', '--ddim-steps', '2', '--out', out]),
        );
        expect(table).toContain('real scenes through the VAE');
        const q = JSON.parse(readFileSync(join(out, 'drawing.json'), 'utf8'));
        expect(q.prompts).toHaveLength(3);
        expect(q.chance.object).toBeCloseTo(1 / 14, 6);
        // The real-scene row is the recogniser's plain accuracy on the same scenes (computed another way here).
        const session = await ortSessionFactory.create(new Uint8Array(readFileSync(shippedRecogniser)));
        const scenes = qualityScenes(0, 3);
        expect(q.real).toEqual(
          await recogniserAccuracy(
            session,
            scenes.map((scene) => ({ scene, image: renderScene(scene, 64) })),
          ),
        );
        for (const row of [q.generated, q.throughVae])
          for (const v of Object.values(row) as number[]) expect(v >= 0 && v <= 1).toBe(true);
        const grid = await decodePng(new Uint8Array(readFileSync(join(out, 'drawing.png'))));
        expect([grid.width, grid.height]).toEqual([3 * 64 + 2 * 2, 64]);
        expect(readFileSync(join(out, 'drawing.txt'), 'utf8')).toContain('real scenes through the VAE');
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  );
});
