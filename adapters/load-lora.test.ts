import { describe, expect, test } from 'bun:test';
import { parseLoraFlag } from './load-lora.ts';

describe('generate --lora file[:scale]', () => {
  test('reads a trailing number as the scale, and anything else as part of the file name', () => {
    expect(parseLoraFlag('out/lora.safetensors')).toEqual({ file: 'out/lora.safetensors', scale: 1 });
    expect(parseLoraFlag('out/lora.safetensors:0.75')).toEqual({ file: 'out/lora.safetensors', scale: 0.75 });
    expect(parseLoraFlag('a:b/lora.safetensors:-1')).toEqual({ file: 'a:b/lora.safetensors', scale: -1 });
    expect(parseLoraFlag('odd:name.safetensors')).toEqual({ file: 'odd:name.safetensors', scale: 1 });
  });
});
