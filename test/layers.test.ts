import { describe, expect, test } from 'bun:test';
import { layers, outside } from './support/layers.ts';
import { isTest, readSources } from './support/source-imports.ts';

const layerOf = (path: string) => layers.find((l) => l.folders.some((f) => path.startsWith(`${f}/`)));

const all = readSources([...layers.flatMap((l) => l.folders), ...outside]);
const product = all.filter((f) => !isTest(f.path) && layerOf(f.path));

/** Strongly connected components of more than one file (Tarjan), each as a sorted list of paths. */
const cycles = (files: typeof product): string[][] => {
  const edges = new Map(files.map((f) => [f.path, f.imports.filter((i) => i !== f.path)]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f.path)) visit(f.path);
  return found;
};

describe('the layers', () => {
  test('every product file sits in a layer', () => {
    const top = new Set(all.map((f) => f.path.split('/')[0]));
    expect([...top].filter((t) => !layerOf(`${t}/x`) && !outside.includes(t))).toEqual([]);
  });

  test('only import downwards, as the table allows', () => {
    const upward = product.flatMap((f) => {
      const from = layerOf(f.path)!;
      return f.imports
        .map((i) => ({ i, to: layerOf(i) }))
        .filter(({ i, to }) =>
          to ? to.layer !== from.layer && !(from.may as readonly string[]).includes(to.layer) : !isTest(i),
        )
        .map(({ i, to }) => `${f.path} (${from.layer}) imports ${i} (${to?.layer ?? 'outside the layers'})`);
    });
    expect(upward).toEqual([]);
  });

  test('never import tests, benchmarks or examples', () => {
    const bad = product.flatMap((f) =>
      f.imports
        .filter((i) => isTest(i) || outside.some((o) => i.startsWith(`${o}/`)))
        .map((i) => `${f.path} imports ${i}`),
    );
    expect(bad).toEqual([]);
  });

  test('have no import cycles between files', () => {
    expect(cycles(product)).toEqual([]);
  });

  test('have no import cycles between the folders inside a layer', () => {
    // A layer's subfolders (weights/onnx, weights/autodiff, pipeline/http, …) form a graph of their own; the files
    // directly in a layer's folder are left out, since they are what the subfolders share.
    const unit = (p: string) => (p.split('/').length > 2 ? p.split('/').slice(0, 2).join('/') : undefined);
    const edges = new Map<string, Set<string>>();
    for (const f of product) {
      const from = unit(f.path);
      if (!from) continue;
      for (const i of f.imports) {
        const to = unit(i);
        if (to && to !== from) (edges.get(from) ?? edges.set(from, new Set()).get(from)!).add(to);
      }
    }
    expect(cycles([...edges].map(([path, to]) => ({ path, text: '', imports: [...to], packages: [] })))).toEqual([]);
  });
});
