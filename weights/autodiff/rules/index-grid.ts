/**
 * Data movement through an index grid: for an op that only moves, drops or repeats elements of X (Slice with any
 * steps, Tile, DepthToSpace, SpaceToDepth, Pad in edge/reflect/wrap mode, GatherND, Compress, ReverseSequence),
 * running the same op on a grid of X's flat positions tells where every output element came from. Then
 *   dX = Reshape(ScatterElements(zeros(|X|), moved grid, dY, reduction = add), shape(X))
 * — shape-generic (sizes, axes, starts, pads may all be known only at run time) and exact. Sums repeats, so the
 * grid costs one int64 tensor of X's size.
 */
import { DataType } from '../../onnx/proto.ts';
import { tensor } from '../../../common/tensor.ts';
import type { Rule, VjpContext } from '../rule-context.ts';

/**
 * dX for a node whose data input 0 is moved by the op: the op re-run on a float64 grid of positions (exact below
 * 2⁵³ elements), its output cast to int64 and used as the scatter indices of dY.
 */
const throughGrid = (c: VjpContext, gridElem: number = DataType.DOUBLE): string => {
  c.requireOpset(16); // Range and ScatterElements from 11, reduction='add' from 16
  const [x, g] = [c.x(0), c.gy(0)!];
  const n = c.emit('Size', [x]);
  const range = c.emit('Range', [
    c.scalarOfType(0, gridElem),
    c.emit('Cast', [n], { to: gridElem }),
    c.scalarOfType(1, gridElem),
  ]);
  const grid = c.emit('Reshape', [range, c.shapeOf(x)]);
  const moved = c.emitCopy([grid, ...c.node.inputs.slice(1)]);
  const flat = (v: string) => c.emit('Reshape', [v, c.ints([-1])]);
  // The sum runs in float32 for a float16 dY: onnxruntime's CPU ScatterElements has a float16 kernel that
  // refuses reduction='add' at run time (bench/fp16-cpu-kernels.ts), and repeats add up better in float32.
  const zeros = c.emit('ConstantOfShape', [c.shapeOf(flat(x))], { value: tensor('float32', [1], Float32Array.of(0)) });
  const idx = c.emit('Cast', [flat(moved)], { to: DataType.INT64 });
  const summed = c.emit('ScatterElements', [zeros, idx, c.f32(flat(g))], { axis: 0, reduction: 'add' });
  return c.castLike(c.emit('Reshape', [summed, c.shapeOf(x)]), g);
};

// Slice (any steps, run-time starts/ends/axes), Tile, DepthToSpace, SpaceToDepth, GatherND, Compress,
// ReverseSequence: dX = the scatter-sum of dY at the grid positions the op moved (see above).
export const movedByGrid: Rule = (c) => [throughGrid(c)];

// Resize in nearest mode with any coordinate/rounding mode or scale: the grid (float32: Resize has no double
// kernel; exact below 2²⁴ elements) moves as the data does.
export const nearestByGrid: Rule = (c) => [throughGrid(c, DataType.FLOAT)];
