import { describe, expect, it } from 'bun:test';
import { PipelineError } from '../../common/errors.ts';
import { memoryProbe } from '../../test/support/memory-probe.ts';
import { isInside, noPaths, normalizePath, pathPolicy } from './path-policy.ts';

describe('normalizePath', () => {
  it('resolves dots, doubled slashes and back slashes', () => {
    expect(normalizePath('/data/a/../b//c/.')).toBe('/data/b/c');
    expect(normalizePath('C:\\data\\a\\..\\b')).toBe('C:/data/b');
    expect(normalizePath('/../../etc')).toBe('/etc');
    expect(normalizePath('a/../../b')).toBe('../b');
    expect(normalizePath('./')).toBe('.');
  });
});

describe('isInside', () => {
  it('compares whole segments, so a sibling with a longer name is outside', () => {
    expect(isInside('/data', '/data')).toBe(true);
    expect(isInside('/data', '/data/cats/1')).toBe(true);
    expect(isInside('/data', '/data2')).toBe(false);
    expect(isInside('/data', '/data/../etc')).toBe(false);
    expect(isInside('/', '/anything')).toBe(true);
    expect(isInside('runs', 'runs/x')).toBe(true);
    expect(isInside('runs', '/runs/x')).toBe(false);
    expect(isInside('C:/data', 'c:\\data\\x')).toBe(true);
  });
});

describe('pathPolicy', () => {
  const probe = memoryProbe({
    dirs: ['/srv/images/cats', '/srv/images/deep/a', '/srv/runs', '/srv/models/sd15', '/home/me/concepts/dog', '/etc'],
    files: {
      '/srv/images/cat.safetensors': 4096,
      '/srv/images/huge.safetensors': 2 ** 40,
      '/srv/runs/r1/learned_embeds.safetensors': 3072,
      '/etc/passwd': 1200,
    },
    links: {
      '/srv/images/escape': '/etc',
      '/srv/images/deep/up': '/etc/ssl', // 'up/..' is /etc on disk, not /srv/images/deep
    },
    others: ['/srv/images/fifo.pt'],
  });
  const make = () =>
    pathPolicy({
      imageRoots: ['/srv/images', '/home/me/concepts'],
      outRoot: '/srv/runs',
      modelRoots: ['/srv/models'],
      probe,
    });
  const refusal = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e as PipelineError;
    }
    throw new Error('expected a refusal');
  };

  it('takes a relative path from the first root and keeps an absolute one', async () => {
    const paths = await make();
    expect(await paths.images('cats')).toBe('/srv/images/cats');
    expect(await paths.images('/home/me/concepts/dog/')).toBe('/home/me/concepts/dog');
    expect(await paths.out('r2')).toBe('/srv/runs/r2');
  });

  it('never lets a run write into the folder the server keeps its run store in', async () => {
    const paths = await pathPolicy({
      imageRoots: ['/srv/images'],
      outRoot: '/srv/runs',
      modelRoots: [],
      reservedOut: ['.pseudoword-runs'],
      probe,
    });
    for (const p of ['.pseudoword-runs', '.pseudoword-runs/r1', '/srv/runs/x/../.pseudoword-runs/'])
      expect(await refusal(paths.out(p))).toMatchObject({ code: 'forbidden', details: { field: 'out' } });
    expect(await paths.out('.pseudoword-runs-2')).toBe('/srv/runs/.pseudoword-runs-2');
  });

  it('refuses a path outside every root as forbidden, naming the field, whether or not it exists', async () => {
    const paths = await make();
    for (const p of ['/etc', '/etc/nothing-here', '../secrets', '/srv/images/../../etc', '/srv/images-other']) {
      const e = await refusal(paths.images(p));
      expect(e).toBeInstanceOf(PipelineError);
      expect(e).toMatchObject({ code: 'forbidden', details: { field: 'images' } });
    }
  });

  it('follows symlinks over the whole path before the check, so neither a link nor link/.. leads out', async () => {
    const paths = await make();
    expect(await refusal(paths.embedding('/srv/images/escape/passwd', 'embeddings[0]'))).toMatchObject({
      code: 'forbidden',
      details: { field: 'embeddings[0]' },
    });
    // Lexically '/srv/images/deep/up/../a' is inside; on disk 'up/..' is /etc, so it names /etc/a.
    expect(await refusal(paths.images('/srv/images/deep/up/../a'))).toMatchObject({ code: 'forbidden' });
    expect(await refusal(paths.embedding('deep/up/../passwd', 'embeddings[0]'))).toMatchObject({ code: 'forbidden' });
  });

  it('lets a request name tiny or a model folder inside the model roots, and nothing else', async () => {
    const paths = await make();
    expect(await paths.model('tiny')).toBe('tiny');
    expect(await paths.model('/srv/models/sd15')).toBe('/srv/models/sd15');
    expect(await refusal(paths.model('/srv/images/cats'))).toMatchObject({
      code: 'forbidden',
      details: { field: 'model' },
    });
    expect(await refusal(paths.model('/srv/models/missing'))).toMatchObject({ code: 'not_found' });
  });

  it('reads embeddings only as regular files under their size cap, from the image roots and the runs folder', async () => {
    const paths = await make();
    expect(await paths.embedding('/srv/runs/r1/learned_embeds.safetensors', 'embeddings[0]')).toBe(
      '/srv/runs/r1/learned_embeds.safetensors',
    );
    expect(await paths.embedding('cat.safetensors', 'embeddings[1]')).toBe('/srv/images/cat.safetensors');
    expect(await refusal(paths.embedding('fifo.pt', 'embeddings[0]'))).toMatchObject({ code: 'bad_request' });
    expect(await refusal(paths.embedding('cats', 'embeddings[0]'))).toMatchObject({ code: 'bad_request' });
    expect(await refusal(paths.embedding('huge.safetensors', 'embeddings[0]'))).toMatchObject({ code: 'too_large' });
    expect(await refusal(paths.embedding('gone.safetensors', 'embeddings[0]'))).toMatchObject({ code: 'not_found' });
  });

  it('refuses every path when the server was given no folders, but still opens tiny', async () => {
    expect(await noPaths.model('tiny')).toBe('tiny');
    expect(await refusal(noPaths.out('x'))).toMatchObject({ code: 'forbidden', details: { field: 'out' } });
  });
});
