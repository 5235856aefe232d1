import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, decodeModel } from '../../../weights/onnx/proto.ts';
import { shippedTinyDir } from '../../open-model.ts';

const root = join(import.meta.dir, '../../..');
const main = join(root, 'adapters/cli/main.ts');
const convert = (args: string[]) => {
  const p = Bun.spawnSync([process.execPath, main, 'convert', ...args], { cwd: root, stdout: 'pipe', stderr: 'pipe' });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};

describe('pseudoword convert', () => {
  test('writes a float16 folder: graphs in half precision, configs and tokenizer copied byte for byte', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'pseudoword-convert-')), 'tiny16');
    const r = convert(['tiny', '--dtype', 'fp16', '--out', out]);
    expect(r.code).toBe(0);
    const unet = decodeModel(new Uint8Array(readFileSync(join(out, 'unet/model.onnx'))));
    expect(unet.graph.inputs.find((i) => i.name === 'sample')?.type?.elemType).toBe(DataType.FLOAT16);
    // Every float32 weight is float16 now; only Resize's scales stay float32, as ONNX requires.
    expect(unet.graph.initializers.filter((t) => t.dataType === DataType.FLOAT).map((t) => t.name)).toEqual([
      'resize_scales',
    ]);
    for (const f of ['model_index.json', 'scheduler/scheduler_config.json', 'tokenizer/vocab.json', 'unet/config.json'])
      expect(readFileSync(join(out, f))).toEqual(readFileSync(join(shippedTinyDir(), f)));
    // The UNet's external weights are rewritten at half their size.
    expect(readFileSync(join(out, 'unet/model.onnx_data')).length).toBeLessThan(
      readFileSync(join(shippedTinyDir(), 'unet/model.onnx_data')).length / 2 + 64 * unet.graph.initializers.length,
    );
  });

  test('refuses another dtype and a folder that is not empty, naming them', () => {
    const busy = mkdtempSync(join(tmpdir(), 'pseudoword-convert-'));
    writeFileSync(join(busy, 'keep.txt'), 'x');
    const bf = convert(['tiny', '--dtype', 'bf16', '--out', join(busy, 'new')]);
    expect(bf.code).not.toBe(0);
    expect(bf.err).toContain('--dtype must be fp16');
    const full = convert(['tiny', '--out', busy]);
    expect(full.code).not.toBe(0);
    expect(full.err).toContain('is not empty');
    expect(readFileSync(join(busy, 'keep.txt'), 'utf8')).toBe('x');
  });
});
