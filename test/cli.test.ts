import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { decodePng } from '../common/image/png.ts';
import { tensor } from '../common/tensor.ts';

const root = join(import.meta.dir, '..');
const cli = (...args: string[]) => {
  const p = Bun.spawnSync([process.execPath, join(root, 'adapters/cli/main.ts'), ...args], {
    cwd: root,
    stderr: 'pipe',
    stdout: 'pipe',
  });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};
const tmp = () => mkdtempSync(join(tmpdir(), 'pseudoword-cli-'));

describe('the pseudoword command', () => {
  test('prints help for itself and for every command', () => {
    expect(cli('--help').out).toContain('Commands:');
    for (const c of ['generate', 'train', 'serve', 'inspect', 'tokenize', 'grad', 'run']) {
      const r = cli(c, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: pseudoword ${c}`);
    }
  });

  test('rejects an unknown flag with exit code 2, naming it and the nearest known one', () => {
    const r = cli('generate', '--promt', 'x');
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option '--promt' — did you mean --prompt?");
    expect(cli('trian', '--steps', '1').err).toContain("unknown command 'trian' — did you mean train?");
  });

  test('reads a negative number after a flag as its value, and names the flag when it is out of range', () => {
    const r = cli('train', '--images', tmp(), '--token', '<t>', '--init', 'star', '--steps', '-5');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--steps must be ≥ 1');
    expect(cli('train', '--token', '<t>', '--init', 'star').err).toContain('--images is required');
    const missing = join(tmp(), 'no-such-folder');
    expect(cli('train', '--images', missing, '--token', '<t>', '--init', 'star', '--out', tmp()).err).toContain(
      `--images '${missing}' is not a folder`,
    );
  });

  test('offers in demo --help only the example concepts that are in the tree', () => {
    const onDisk = readdirSync(join(root, 'examples/concepts')).sort();
    const listed = /examples\/concepts\/ \(([^)]*)\)/.exec(cli('demo', '--help').out)![1].split(', ');
    expect(listed.sort()).toEqual(onDisk);
  });

  test('warns when a prompt is longer than the text encoder reads, naming what is cut', () => {
    // 40 × 'a photo' and 'red star', one token each in tiny: 82 tokens, of which the encoder reads 75.
    const prompt = `${'a photo '.repeat(40)}red star`;
    const r = cli('generate', '--prompt', prompt, '--steps', '1', '--out', join(tmp(), 'long.png'));
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      "warning: --prompt is 82 tokens; the text encoder reads the first 75, so this is cut: 'photo a photo a photo red star'",
    );
    expect(
      cli('generate', '--prompt', 'a photo of a red star', '--steps', '1', '--out', join(tmp(), 'short.png')).err,
    ).not.toContain('warning');
  });

  test('generates a PNG of the model size on tiny', async () => {
    const out = join(tmp(), 'a.png');
    const r = cli('generate', '--prompt', 'a photo of a red star', '--steps', '3', '--out', out);
    expect(r.code).toBe(0);
    const png = await decodePng(new Uint8Array(readFileSync(out)));
    expect([png.width, png.height]).toEqual([64, 64]);
  });

  test('prints token ids as JSON', () => {
    const ids = JSON.parse(cli('tokenize', '--no-pad', 'a photo').out);
    expect(ids.length).toBe(4); // BOS, a, photo, EOS (both words are in tiny's vocabulary)
  });

  test('differentiates a PyTorch-exported model from the command line, matching central differences', async () => {
    const fixture = JSON.parse(readFileSync(join(root, 'test/fixtures/autodiff/text_encoder.opset17.json'), 'utf8'));
    const out = join(tmp(), 'grad.onnx');
    // --of a tensor output differentiates its sum; weights/autodiff/fixtures.test.ts compares with autograd itself.
    const r = cli(
      'grad',
      join(root, 'test/fixtures/autodiff/text_encoder.opset17.onnx'),
      '--of',
      fixture.output,
      '--wrt',
      'inputs_embeds',
      '--out',
      out,
    );
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(true);
    const s = await ortSessionFactory.create(out);
    const x = fixture.inputs.inputs_embeds;
    const feed = (data: number[]) => ({ inputs_embeds: tensor('float32', x.dims, Float32Array.from(data)) });
    const res = await s.run(feed(x.data));
    const g = res.inputs_embeds_grad.data as Float32Array;
    expect(res.inputs_embeds_grad.dims).toEqual(x.dims);
    const sum = async (data: number[]) =>
      ((await s.run(feed(data)))[fixture.output].data as Float32Array).reduce((a, b) => a + b, 0);
    const k = 7;
    const eps = 1e-2;
    const plus = [...x.data];
    plus[k] += eps;
    const minus = [...x.data];
    minus[k] -= eps;
    expect(((await sum(plus)) - (await sum(minus))) / (2 * eps)).toBeCloseTo(g[k], 1);
  });

  test('inspects a model folder, reporting gradient rules', () => {
    const j = JSON.parse(cli('inspect', 'tiny', '--json').out);
    expect(Object.keys(j)).toEqual(['text_encoder', 'unet', 'vae_encoder', 'vae_decoder']);
    expect(j.unet.cannotRunOnCpu).toEqual([]);
    expect(j.unet.gradients.rule).toContain('Conv');
    // Training differentiates the text encoder's hidden states, not its pooled output (whose GatherND had no rule
    // once), and train.test.ts trains through tiny: nothing on its path may be reported as failing.
    expect(j.text_encoder.gradientsOf).toEqual(['last_hidden_state']);
    expect(j.unet.gradientsOf).toEqual(['out_sample']);
    for (const c of ['text_encoder', 'unet']) expect(j[c].gradients.missing).toEqual([]);
    expect(cli('inspect', 'tiny').out).not.toContain('fails');
    // Each ruled op with ONNX node tests shows how its gradient fared on them (node-test-coverage.ts).
    expect(j.unet.nodeTests.find((r: { op: string }) => r.op === 'Conv')).toMatchObject({ op: 'Conv', cases: 6 });
  });

  test('prints the gradient coverage: the node-test table, gradient-free ops and each refusal with its reason', () => {
    const r = cli('grad', '--coverage');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\| \*\*all\*\* \| \d+ \| \d+ \(/);
    expect(r.out).toContain('QuantizeLinear');
    expect(r.out).toContain('Unique: it has one output entry per distinct value');
  });

  test('reports a missing model folder as not_found', () => {
    const r = cli('generate', '--model', join(tmp(), 'nothing-here'), '--prompt', 'x');
    expect(r.code).toBe(1);
    expect(r.err).toContain('not_found');
  });

  test('refuses to write varied-colour examples over the shipped ones, and writes them where told', () => {
    const refused = cli('write-examples', '--varied-colours');
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--varied-colours needs --out');
    const out = tmp();
    expect(cli('write-examples', '--varied-colours', '--count', '2', '--out', out).code).toBe(0);
    expect(readFileSync(join(out, 'bullseye', '1.txt'), 'utf8')).toMatch(
      /^a (small|large) (red|green|purple|orange|white|black) \{\}/,
    );
  });
});

describe('pseudoword serve', () => {
  test('answers on loopback and refuses models and embeddings outside its folders with 403 naming the field', async () => {
    const p = Bun.spawn([process.execPath, join(root, 'adapters/cli/main.ts'), 'serve', '--port', '0'], {
      cwd: root,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    try {
      const reader = p.stdout.getReader();
      let text = '';
      while (!/listening on (\S+)/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      const url = /listening on (\S+)/.exec(text)![1];
      expect(url).toStartWith('http://127.0.0.1:');
      const post = (body: unknown) =>
        fetch(`${url}/v1/generate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const model = await post({ prompt: 'x', model: '/etc' });
      expect(model.status).toBe(403);
      expect((await model.json()).error.field).toBe('model');
      const emb = await post({ prompt: 'x', embeddings: ['/etc/passwd'] });
      expect(emb.status).toBe(403);
      expect((await emb.json()).error.field).toBe('embeddings[0]');
    } finally {
      p.kill();
    }
  });
});
