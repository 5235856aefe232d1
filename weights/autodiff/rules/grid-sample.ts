/**
 * GridSample on 2-D images, bilinear or nearest, zeros, border or reflection padding. With the grid's (gx, gy) mapped to pixel
 * coordinates ix = a·gx + b (a = (W − 1)/2, b = a with align_corners; a = W/2, b = (W − 1)/2 without; likewise iy),
 * clipped to the image for border padding, the output is Σ over the four corners of w·X[corner] (a corner outside
 * the image reads 0), w = wx·wy with wx₁ = ix − ⌊ix⌋, wx₀ = 1 − wx₁. Then
 *   dX  = the corners' w·dY scattered back (ScatterElements add over X's flat positions)
 *   dgx = a·[inside the clip]·Σ_c dY·Σ_corners ±wy·X[corner]   (+ for the right corners, − for the left), dgy alike.
 * Nearest reads X at the rounded position (half to even, as onnxruntime): dX scatters dY there, the grid gets 0.
 */
import { DataType } from '../../onnx/proto.ts';
import type { Rule, VjpContext } from '../rule-context.ts';
import { gridSampleCubic } from './grid-sample-cubic.ts';

const i64 = (c: VjpContext, v: string) => c.emit('Cast', [v], { to: DataType.INT64 });

/** dX and dGrid of a 2-D bilinear or nearest GridSample (see above). */
export const gridSample: Rule = (c) => {
  const [x, grid, g] = [c.x(0), c.x(1), c.gy(0)!];
  const mode = c.attr('mode', 'bilinear');
  const pad = c.attr('padding_mode', 'zeros');
  if (mode === 'bicubic' || mode === 'cubic') return gridSampleCubic(c);
  if (mode !== 'bilinear' && mode !== 'linear' && mode !== 'nearest') c.fail(`in mode '${mode}' (not written)`);
  if (pad !== 'zeros' && pad !== 'border' && pad !== 'reflection') c.fail(`with padding '${pad}' (not written)`);
  const xs = c.shape(x);
  if (xs?.length !== 4 || !xs.every((d) => typeof d === 'number')) c.fail('on other than 4-D static-shaped input');
  const [N, C, H, W] = xs as number[];
  c.requireOpset(16);
  const k = (v: number) => c.scalar(v, grid);
  const align = c.attr('align_corners', 0) === 1;
  const coord = (axis: number, size: number) => {
    const gv = c.squeeze(c.emit('Slice', [grid, c.ints([axis]), c.ints([axis + 1]), c.ints([3])]), [3]);
    const a = align ? (size - 1) / 2 : size / 2;
    const raw = c.emit('Add', [c.emit('Mul', [gv, k(a)]), k((size - 1) / 2)]);
    if (pad === 'reflection') {
      // Reflected into [lo, hi] (the pixel edges, or centres with align_corners): with m = (ix − lo) mod 2·span,
      // v = lo + m while m ≤ span, lo + 2·span − m after, so dv/dix = ±1.
      const [lo, hi] = align ? [0, size - 1] : [-0.5, size - 0.5];
      const span = hi - lo;
      const t = c.emit('Sub', [raw, k(lo)]);
      const m = c.emit('Sub', [
        t,
        c.emit('Mul', [c.emit('Floor', [c.emit('Mul', [t, k(1 / (2 * span))])]), k(2 * span)]),
      ]);
      const back = c.emit('Cast', [c.emit('Greater', [m, k(span)])], { to: c.elem(grid) });
      const v = c.emit('Add', [
        k(lo),
        c.emit('Add', [m, c.emit('Mul', [back, c.emit('Sub', [k(2 * span), c.emit('Mul', [m, k(2)])])])]),
      ]);
      return { v, slope: c.emit('Mul', [c.emit('Sub', [k(1), c.emit('Mul', [back, k(2)])]), k(a)]) };
    }
    if (pad !== 'border') return { v: raw, slope: k(a) };
    const inside = c.emit('And', [c.emit('Greater', [raw, k(0)]), c.emit('Less', [raw, k(size - 1)])]);
    const slope = c.emit('Mul', [c.emit('Cast', [inside], { to: c.elem(grid) }), k(a)]);
    return { v: c.emit('Clip', [raw, k(0), k(size - 1)]), slope };
  };
  const [ix, iy] = [coord(0, W), coord(1, H)];
  // Flat position of X[n, c, y, x] = ((n·C + c)·H + y)·W + x; the (n, c) part is a constant [N, C, 1, 1].
  const base = c.emit('Reshape', [c.ints(Array.from({ length: N * C }, (_, j) => j * H * W)), c.ints([N, C, 1, 1])]);
  const flat = (v: string) => c.emit('Reshape', [v, c.ints([-1])]);
  const xFlat = flat(x);
  /** A corner at integer coordinates (float tensors): its validity (0/1, [N,1,Ho,Wo]) and X there ([N,C,Ho,Wo]). */
  const corner = (cx: string, cy: string) => {
    const inX = c.emit('And', [
      c.emit('Not', [c.emit('Less', [cx, k(0)])]),
      c.emit('Not', [c.emit('Greater', [cx, k(W - 1)])]),
    ]);
    const inY = c.emit('And', [
      c.emit('Not', [c.emit('Less', [cy, k(0)])]),
      c.emit('Not', [c.emit('Greater', [cy, k(H - 1)])]),
    ]);
    // Reflection reads a tap just outside (−1 or the size) at the edge pixel: every tap counts.
    const valid =
      pad === 'reflection'
        ? c.expandTo(c.scalar(1, x), c.unsqueeze(cx, [1]))
        : c.unsqueeze(c.emit('Cast', [c.emit('And', [inX, inY])], { to: c.elem(x) }), [1]);
    const at = i64(
      c,
      c.emit('Add', [
        c.emit('Mul', [c.emit('Clip', [cy, k(0), k(H - 1)]), k(W)]),
        c.emit('Clip', [cx, k(0), k(W - 1)]),
      ]),
    );
    const pos = c.emit('Add', [base, c.unsqueeze(at, [1])]);
    const shaped = c.emit('Expand', [pos, c.shapeOf(g)]);
    return {
      valid,
      pos: shaped,
      val: c.emit('Mul', [c.emit('Reshape', [c.emit('Gather', [xFlat, flat(shaped)]), c.shapeOf(g)]), valid]),
    };
  };
  const scatter = (parts: { pos: string; contrib: string }[]) => {
    let acc = c.zerosLike(xFlat);
    for (const p of parts)
      acc = c.emit('ScatterElements', [acc, flat(p.pos), flat(p.contrib)], { axis: 0, reduction: 'add' });
    return c.emit('Reshape', [acc, c.shapeOf(x)]);
  };
  if (mode === 'nearest') {
    const p = corner(c.emit('Round', [ix.v]), c.emit('Round', [iy.v]));
    return [
      c.needs(0) ? scatter([{ pos: p.pos, contrib: c.emit('Mul', [g, p.valid]) }]) : undefined,
      c.needs(1) ? c.zerosLike(grid) : undefined,
    ];
  }
  const [x0, y0] = [c.emit('Floor', [ix.v]), c.emit('Floor', [iy.v])];
  const [x1, y1] = [c.emit('Add', [x0, k(1)]), c.emit('Add', [y0, k(1)])];
  const [wx1, wy1] = [c.emit('Sub', [ix.v, x0]), c.emit('Sub', [iy.v, y0])];
  const [wx0, wy0] = [c.emit('Sub', [k(1), wx1]), c.emit('Sub', [k(1), wy1])];
  const corners = [
    { p: corner(x0, y0), wx: wx0, wy: wy0, sx: -1, sy: -1 },
    { p: corner(x1, y0), wx: wx1, wy: wy0, sx: 1, sy: -1 },
    { p: corner(x0, y1), wx: wx0, wy: wy1, sx: -1, sy: 1 },
    { p: corner(x1, y1), wx: wx1, wy: wy1, sx: 1, sy: 1 },
  ];
  const u = (v: string) => c.unsqueeze(v, [1]);
  const dX = c.needs(0)
    ? scatter(
        corners.map((q) => ({
          pos: q.p.pos,
          contrib: c.emit('Mul', [g, c.emit('Mul', [q.p.valid, u(c.emit('Mul', [q.wx, q.wy]))])]),
        })),
      )
    : undefined;
  if (!c.needs(1)) return [dX, undefined];
  const along = (w: (q: (typeof corners)[number]) => string, s: (q: (typeof corners)[number]) => number) =>
    c.reduceSum(
      c.emit('Mul', [
        g,
        c.emit(
          'Sum',
          corners.map((q) => c.emit('Mul', [q.p.val, u(c.emit('Mul', [w(q), k(s(q))]))])),
        ),
      ]),
      [1],
      false,
    );
  const dgx = c.emit('Mul', [
    along(
      (q) => q.wy,
      (q) => q.sx,
    ),
    ix.slope,
  ]);
  const dgy = c.emit('Mul', [
    along(
      (q) => q.wx,
      (q) => q.sy,
    ),
    iy.slope,
  ]);
  return [dX, c.emit('Concat', [c.unsqueeze(dgx, [3]), c.unsqueeze(dgy, [3])], { axis: 3 })];
};
