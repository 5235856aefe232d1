import { describe, expect, it } from 'bun:test';
import { parseGenerateRequest } from '../../common/requests.ts';
import { memoryProbe } from '../../test/support/memory-probe.ts';
import { checkGeneratePaths, pathPolicy } from './path-policy.ts';

describe("a generation request's LoRA files", () => {
  const policy = pathPolicy({
    imageRoots: ['/srv/images'],
    outRoot: '/srv/runs',
    modelRoots: [],
    probe: memoryProbe({
      dirs: ['/srv/images', '/srv/runs/r1', '/etc'],
      files: { '/srv/runs/r1/lora.safetensors': 4096, '/etc/lora.safetensors': 4096 },
      links: { '/srv/images/escape': '/etc' },
    }),
  });
  const request = (file: string) => parseGenerateRequest({ prompt: 'a cat', lora: [{ file, scale: 0.5 }] });

  it('are read from the run and image folders only, refused elsewhere naming lora[i].file', async () => {
    const paths = await policy;
    expect((await checkGeneratePaths(request('/srv/runs/r1/lora.safetensors'), paths)).lora).toEqual([
      { file: '/srv/runs/r1/lora.safetensors', scale: 0.5 },
    ]);
    for (const outside of ['/etc/lora.safetensors', '/srv/images/escape/lora.safetensors'])
      await expect(checkGeneratePaths(request(outside), paths)).rejects.toMatchObject({
        code: 'forbidden',
        details: { field: 'lora[0].file' },
      });
  });
});
