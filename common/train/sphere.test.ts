import { describe, expect, test } from 'bun:test';
import { createRng } from '../numerics/rng.ts';
import { projectTangent, retractToSphere } from './sphere.ts';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const norm = (a: ArrayLike<number>) => Math.sqrt(dot(a, a));

describe('optimisation on the sphere (directional textual inversion)', () => {
  test('projects a gradient onto the tangent space as worked by hand', () => {
    // x = (3, 4), x̂ = (0.6, 0.8), g = (1, 0): g − (g·x̂)x̂ = (1, 0) − 0.6·(0.6, 0.8) = (0.64, −0.48).
    const g = projectTangent(Float32Array.of(1, 0), [3, 4], 2);
    expect(g[0]).toBeCloseTo(0.64, 6);
    expect(g[1]).toBeCloseTo(-0.48, 6);
    expect(dot(g, [3, 4])).toBeCloseTo(0, 6);
  });

  test('holds every row at its radius through many random updates', () => {
    const rng = createRng(3);
    const dim = 64;
    const x = retractToSphere(rng.fillNormal(new Float32Array(2 * dim)), [0.4, 2], dim);
    for (let k = 0; k < 200; k++) {
      const g = projectTangent(rng.fillNormal(new Float32Array(2 * dim)), x, dim);
      for (let i = 0; i < x.length; i++) x[i] -= 0.05 * g[i];
      retractToSphere(x, [0.4, 2], dim);
    }
    // float32 storage: the norm is the radius to within its rounding (≈ 6e-8 relative per element).
    expect(Math.abs(norm(x.subarray(0, dim)) / 0.4 - 1)).toBeLessThan(1e-6);
    expect(Math.abs(norm(x.subarray(dim)) / 2 - 1)).toBeLessThan(1e-6);
  });

  test("steps along the Riemannian gradient: the loss's slope on the sphere matches finite differences", () => {
    // f(x) = ½|x − a|² + (b·x)²: a smooth loss with a gradient that has both radial and tangent parts.
    const rng = createRng(9);
    const dim = 16;
    const a = rng.fillNormal(new Float32Array(dim));
    const b = rng.fillNormal(new Float32Array(dim));
    const f = (x: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i < dim; i++) s += 0.5 * (x[i] - a[i]) ** 2;
      return s + dot(b, x) ** 2;
    };
    const grad = (x: ArrayLike<number>) =>
      Float32Array.from({ length: dim }, (_, i) => x[i] - a[i] + 2 * dot(b, x) * b[i]);
    const x = retractToSphere(rng.fillNormal(new Float32Array(dim)), [1.5], dim);
    const rg = projectTangent(grad(x), x, dim);
    // Along the sphere in any tangent direction t, d/dh f(R(x + h t)) at 0 = ⟨P∇f, t⟩.
    for (let k = 0; k < 3; k++) {
      const t = projectTangent(rng.fillNormal(new Float32Array(dim)), x, dim);
      const h = 1e-3;
      const at = (s: number) =>
        f(
          retractToSphere(
            Float32Array.from(x, (v, i) => v + s * t[i]),
            [1.5],
            dim,
          ),
        );
      const fd = (at(h) - at(-h)) / (2 * h);
      expect(Math.abs(fd - dot(rg, t))).toBeLessThan(2e-3 * (Math.abs(fd) + 1));
    }
    // The update R(x − η P∇f) lowers f by about η|P∇f|² for a small step η.
    const eta = 1e-3;
    const next = retractToSphere(
      Float32Array.from(x, (v, i) => v - eta * rg[i]),
      [1.5],
      dim,
    );
    const drop = (f(x) - f(next)) / eta;
    expect(Math.abs(drop - dot(rg, rg))).toBeLessThan(0.02 * dot(rg, rg));
  });
});
