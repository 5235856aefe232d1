import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensorFromWire, type Frame } from '../../../common/frames.ts';
import { decodePng, encodePng } from '../../../common/image/png.ts';
import { decodeFrames } from '../../../pipeline/wire/msgpack-stream.ts';
import { shippedTinyDir } from '../../open-model.ts';

const root = join(import.meta.dir, '../../..');
const main = join(root, 'adapters/cli/main.ts');
const example = (name: string) => join(root, 'examples/pipelines', name);
const run = (args: string[], o: { cwd?: string; stdin?: Uint8Array } = {}) => {
  const p = Bun.spawnSync([process.execPath, main, 'run', ...args], {
    cwd: o.cwd ?? root,
    stdin: o.stdin,
    stdout: 'pipe',
    stderr: 'pipe',
  });
  return { code: p.exitCode, out: new Uint8Array(p.stdout), err: p.stderr.toString() };
};
const tmp = () => mkdtempSync(join(tmpdir(), 'pseudoword-run-'));
const framesOf = async (bytes: Uint8Array) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(
    (async function* () {
      yield bytes;
    })(),
  ))
    out.push(f);
  return out;
};

/** A folder with two 64×64 PNGs, a.png and b.png. */
const imageFolder = async () => {
  const dir = tmp();
  for (const [k, name] of ['a', 'b'].entries()) {
    const data = new Uint8Array(64 * 64 * 4);
    for (let p = 0; p < 64 * 64; p++) data.set([(p % 64) * 4, k * 200, (p >> 6) * 4, 255], p * 4);
    writeFileSync(join(dir, `${name}.png`), await encodePng({ width: 64, height: 64, channels: 4, data }));
  }
  return dir;
};
const pngSize = async (path: string) => {
  const png = await decodePng(new Uint8Array(readFileSync(path)));
  return [png.width, png.height];
};

describe('pseudoword run', () => {
  test('encodes a folder of images to latent files, and decodes those back to images', async () => {
    const images = await imageFolder();
    const latents = tmp();
    const enc = run([example('encode-images.json'), '--input', images, '--out', latents]);
    expect(enc.code).toBe(0);
    expect(readdirSync(latents).sort()).toEqual(['a.msgpack', 'b.msgpack']);
    const [frame] = await framesOf(new Uint8Array(readFileSync(join(latents, 'a.msgpack'))));
    // The shipped tiny's VAE is ×4: 64-px images make 16×16 latents.
    const h = 64 / JSON.parse(readFileSync(join(shippedTinyDir(), 'pseudoword.json'), 'utf8')).vaeScale;
    expect(frame.type === 'latent' && tensorFromWire(frame.tensor).dims).toEqual([1, 4, h, h]);
    const decoded = tmp();
    expect(run([example('decode-latents.json'), '--input', latents, '--out', decoded]).code).toBe(0);
    expect(readdirSync(decoded).sort()).toEqual(['a.png', 'b.png']);
    expect(await pngSize(join(decoded, 'b.png'))).toEqual([64, 64]);
  });

  test('streams msgpack frames out on stdout and reads them back from stdin (-)', async () => {
    const enc = run([example('encode-images.json'), '--input', await imageFolder()]);
    expect(enc.code).toBe(0);
    expect((await framesOf(enc.out)).map((f) => f.type)).toEqual(['latent', 'latent', 'done']);
    const dec = run([example('decode-latents.json'), '--input', '-'], { stdin: enc.out });
    expect(dec.code).toBe(0);
    const frames = await framesOf(dec.out);
    expect(frames.map((f) => f.type)).toEqual(['image', 'image', 'done']);
    expect(frames[1]).toMatchObject({ type: 'image', index: 1, width: 64, height: 64 });
  });

  test('runs the image-to-image example, one PNG per input, with denoising progress on stderr', async () => {
    const out = tmp();
    const r = run([example('image-to-image.json'), '--input', await imageFolder(), '--out', out]);
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['a.png', 'b.png']);
    expect(r.err).toContain('denoise 20/20');
  });

  test('runs the generate example, a source that needs no input', async () => {
    const out = tmp();
    expect(run([example('generate.json'), '--out', out]).code).toBe(0);
    expect(await pngSize(join(out, 'image-0.png'))).toEqual([64, 64]);
  });

  test('runs the train example on a folder, writing its embedding where the description says', async () => {
    const cwd = tmp();
    const r = run([example('train.json'), '--input', await imageFolder(), '--out', join(cwd, 'frames')], { cwd });
    expect(r.code).toBe(0);
    expect(existsSync(join(cwd, 'out/pipeline-train/learned_embeds.safetensors'))).toBe(true);
  });

  test('loads a user stage from a file named in the description', async () => {
    const out = tmp();
    expect(run([example('encode-grayscale.json'), '--input', await imageFolder(), '--out', out]).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['a.msgpack', 'b.msgpack']);
  });

  test('refuses a bad description before reading input, naming the stage and the field, with exit code 2', () => {
    const desc = join(tmp(), 'bad.json');
    writeFileSync(desc, JSON.stringify({ stages: [{ use: 'decode-image' }, { use: 'vae-decode' }] }));
    const r = run([desc, '--input', 'no-such-folder']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("stages[1] (vae-decode): takes 'latent' but stages[0] (decode-image) emits 'image'");
    const noInput = run([example('encode-images.json')]);
    expect(noInput.code).toBe(2);
    expect(noInput.err).toContain("this pipeline takes 'image-file' input: pass --input");
  });
});
