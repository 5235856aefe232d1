import { describe, expect, it } from 'bun:test';
import { PipelineError } from '../../common/errors.ts';
import { isInside, normalizePath, pathPolicy, resolveInRoots } from './path-policy.ts';

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

describe('resolveInRoots', () => {
  const roots = ['/srv/images', '/home/me/concepts'];
  it('takes a relative path from the first root and keeps an absolute one', () => {
    expect(resolveInRoots('cats', { field: 'images', roots })).toBe('/srv/images/cats');
    expect(resolveInRoots('/home/me/concepts/dog/', { field: 'images', roots })).toBe('/home/me/concepts/dog');
  });

  it('refuses a path outside every root with a forbidden error naming the field', () => {
    for (const p of ['/etc', '../secrets', '/srv/images/../../etc', '/srv/images-other']) {
      let err: unknown;
      try {
        resolveInRoots(p, { field: 'images', roots });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PipelineError);
      expect(err).toMatchObject({ code: 'forbidden', details: { field: 'images' } });
    }
    expect(() => resolveInRoots('/srv/images/x', { field: 'images', roots: [] })).toThrow('outside');
  });

  it('checks the path its realPath gives, and returns that one', () => {
    const realPath = (p: string) => p.replace('/srv/images/link', '/etc');
    expect(() => resolveInRoots('link/passwd', { field: 'images', roots, realPath })).toThrow('outside');
    expect(resolveInRoots('ok', { field: 'images', roots, realPath })).toBe('/srv/images/ok');
  });
});

describe('pathPolicy', () => {
  const realPath = (p: string) => p.replace('/srv/images/escape', '/etc');
  const paths = pathPolicy({
    imageRoots: ['/srv/images'],
    outRoot: '/srv/runs',
    modelRoots: ['/srv/models'],
    realPath,
  });

  it('lets a request name tiny or a model inside the model roots, and nothing else', () => {
    expect(() => paths.model('tiny')).not.toThrow();
    expect(() => paths.model('/srv/models/sd15')).not.toThrow();
    expect(() => paths.model('/srv/images/sd15')).toThrow(PipelineError);
  });

  it('reads embeddings from the image roots and the runs folder, following symlinks first', () => {
    expect(() => paths.embedding('embeddings[0]', '/srv/runs/r1/learned_embeds.safetensors')).not.toThrow();
    expect(() => paths.embedding('embeddings[0]', '/srv/images/a.pt')).not.toThrow();
    let e: unknown;
    try {
      paths.embedding('embeddings[1]', '/srv/images/escape/passwd');
    } catch (x) {
      e = x;
    }
    expect(e).toMatchObject({ code: 'forbidden', details: { field: 'embeddings[1]' } });
  });
});
