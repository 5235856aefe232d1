/**
 * GridSample in bicubic mode on 2-D images (any padding, aligned corners or not), with respect to the image and
 * the grid, written out as gathers and products (decomposition.ts) as onnxruntime computes it. The grid's (gx, gy)
 * map to pixels ix = ((gx + 1)·W − 1)/2 (or (gx + 1)/2·(W − 1) with align_corners), unclipped: padding acts on
 * the taps only (onnxruntime's CPU kernel). With x₀ = ⌊ix⌋ and t = ix − x₀, the
 * output is Σᵢ Σⱼ c(ty)ᵢ·c(tx)ⱼ·X[y₀ − 1 + i, x₀ − 1 + j] over the 4×4 taps, with Keys' cubic weights (A = −¾)
 *   c₀ = ((A(t+1) − 5A)(t+1) + 8A)(t+1) − 4A,  c₁ = ((A+2)t − (A+3))t² + 1,
 *   c₂ = ((A+2)(1−t) − (A+3))(1−t)² + 1,     c₃ = ((A(2−t) − 5A)(2−t) + 8A)(2−t) − 4A;
 * a tap outside the image reads 0 (zeros), the nearest edge pixel (border) or the pixel its integer position
 * reflects to at [x_min, x_max] = [−½, W − ½] (or [0, W − 1] aligned), as onnxruntime's GsReflect does. So dX
 * scatters dY·c(ty)ᵢ·c(tx)ⱼ to the taps, and dgx = dY·Σ c(ty)ᵢ·c′(tx)ⱼ·X[…]·∂ix/∂gx (the taps' positions are
 * piecewise constant in the grid).
 */
import { DataType } from '../../onnx/proto.ts';
import { Decomposition } from '../decomposition.ts';
import type { VjpContext } from '../rule-context.ts';

export const gridSampleCubic = (c: VjpContext): (string | undefined)[] => {
  const [X, grid] = [c.x(0), c.x(1)];
  const xs = c.shape(X);
  if (xs?.length !== 4 || typeof xs[2] !== 'number' || typeof xs[3] !== 'number')
    c.fail('in cubic mode on other than 4-D input with a static height and width (not written)');
  const [H, W] = [xs![2], xs![3]] as number[];
  const pad = c.attr('padding_mode', 'zeros');
  const align = c.attr('align_corners', 0) === 1;
  const e = c.elem(X);
  const d = new Decomposition(c.opset, e);
  d.input('X', e, xs);
  d.input('grid', c.elem(grid), c.shape(grid));
  const { k, op } = { k: (v: number) => d.k(v), op: d.op.bind(d) };
  const mod2 = (n: string) => op('Sub', [n, op('Mul', [op('Floor', [op('Mul', [n, k(0.5)])]), k(2)])]);
  /** onnxruntime's GsReflect: folds v into [lo, hi] by reflecting at the nearer border, as often as needed. */
  const reflect = (v: string, lo: number, hi: number) => {
    const range = hi - lo;
    const side = (below: boolean) => {
      const dist = below ? op('Sub', [k(lo), v]) : op('Sub', [v, k(hi)]);
      const n = op('Floor', [op('Div', [dist, k(range)])]);
      const r = op('Sub', [dist, op('Mul', [n, k(range)])]);
      const even = op('Equal', [mod2(n), k(0)]);
      const [near, far] = below
        ? [op('Add', [k(lo), r]), op('Sub', [k(hi), r])]
        : [op('Sub', [k(hi), r]), op('Add', [k(lo), r])];
      return op('Where', [even, near, far]);
    };
    return op('Where', [op('Less', [v, k(lo)]), side(true), op('Where', [op('Greater', [v, k(hi)]), side(false), v])]);
  };
  const [lo, hiOf] = [align ? 0 : -0.5, (n: number) => (align ? n - 1 : n - 0.5)];
  const coord = (axis: number, n: number) => {
    const g = d.op('Squeeze', [op('Slice', ['grid', d.ints([axis]), d.ints([axis + 1]), d.ints([3])]), d.ints([3])]);
    const v = align
      ? op('Mul', [op('Mul', [op('Add', [g, k(1)]), k(0.5)]), k(n - 1)])
      : op('Mul', [op('Sub', [op('Mul', [op('Add', [g, k(1)]), k(n)]), k(1)]), k(0.5)]);
    return v;
  };
  const A = -0.75;
  const weights = (t: string) => {
    const poly = (x: string, cs: number[]) => cs.reduce((acc, cf) => op('Add', [op('Mul', [acc, x]), k(cf)]), k(0));
    const t1 = op('Add', [t, k(1)]);
    const u = op('Sub', [k(1), t]);
    const u1 = op('Add', [u, k(1)]);
    // c₀ and c₃ as A·s³ − 5A·s² + 8A·s − 4A at s = t + 1 and 2 − t; c₁, c₂ as (A+2)s³ − (A+3)s² + 1 at t and 1 − t.
    return [
      poly(t1, [A, -5 * A, 8 * A, -4 * A]),
      poly(t, [A + 2, -(A + 3), 0, 1]),
      poly(u, [A + 2, -(A + 3), 0, 1]),
      poly(u1, [A, -5 * A, 8 * A, -4 * A]),
    ];
  };
  const [ix, iy] = [coord(0, W), coord(1, H)];
  const [fx, fy] = [op('Floor', [ix]), op('Floor', [iy])];
  const [cx, cy] = [weights(op('Sub', [ix, fx])), weights(op('Sub', [iy, fy]))];
  const flat = op('Reshape', ['X', d.ints([0, 0, -1])]); // [N, C, H·W]
  const gs = op('Shape', ['grid']);
  const outShape = op(
    'Concat',
    [op('Slice', [op('Shape', ['X']), d.ints([0]), d.ints([2])]), op('Slice', [gs, d.ints([1]), d.ints([3])])],
    { axis: 0 },
  );
  // Expand broadcasts [N, 1, Ho·Wo] with [1, C, 1] to [N, C, Ho·Wo].
  const spread = op('Concat', [d.ints([1]), op('Slice', [op('Shape', ['X']), d.ints([1]), d.ints([2])]), d.ints([1])], {
    axis: 0,
  });
  /** A tap's row or column (float, integer-valued) as an in-image index, and whether it reads the image. */
  const tap = (v: string, n: number) => {
    const inside = op('And', [op('Not', [op('Less', [v, k(0)])]), op('Not', [op('Greater', [v, k(n - 1)])])]);
    const r = pad === 'reflection' ? reflect(v, lo, hiOf(n)) : v;
    const at = op('Cast', [op('Min', [op('Max', [r, k(0)]), k(n - 1)])], { to: DataType.INT64 });
    return { at, inside };
  };
  const terms: string[] = [];
  for (let i = 0; i < 4; i++) {
    const ty = tap(op('Add', [fy, k(i - 1)]), H);
    for (let j = 0; j < 4; j++) {
      const tx = tap(op('Add', [fx, k(j - 1)]), W);
      const idx = op('Add', [op('Mul', [ty.at, d.b.constI64(W)]), tx.at]); // [N, Ho, Wo]
      const wide = op('Expand', [op('Reshape', [idx, d.ints([0, 1, -1])]), spread]);
      const val = op('Reshape', [op('GatherElements', [flat, wide], { axis: 2 }), outShape]);
      let w = op('Mul', [cy[i], cx[j]]);
      if (pad === 'zeros') w = op('Mul', [w, d.asFloat(op('And', [ty.inside, tx.inside]))]);
      terms.push(op('Mul', [val, d.unsqueeze(w, [1])]));
    }
  }
  const out = op('Sum', terms);
  const wrt = [c.needs(0) ? 'X' : '', c.needs(1) ? 'grid' : ''].filter(Boolean);
  const g = d.vjp(
    c,
    [out],
    [
      ['X', X],
      ['grid', grid],
    ],
    wrt,
  );
  return [c.needs(0) ? g[0] : undefined, c.needs(1) ? g[wrt.indexOf('grid')] : undefined];
};
