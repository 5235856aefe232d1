/**
 * Writes backward nodes into the graph: emits ops through the GraphBuilder, keeps the static facts of every new
 * value up to date, shares constants, and gives version-correct forms of the ops whose signature changed between
 * opsets (ReduceSum/ReduceMean/Squeeze/Unsqueeze axes as attribute or input).
 */
import type { Dim, Node } from '../onnx/proto.ts';
import { DataType } from '../onnx/proto.ts';
import type { GraphBuilder, AttrValue } from '../onnx/builder.ts';
import { tensor } from '../../common/tensor.ts';
import { type Facts, numbersOf } from './shape-facts.ts';
import type { ValueFacts } from './shape-infer.ts';
import { toHalf } from '../../common/numerics/half.ts';

/** Attribute values a rule may pass to `emit`. */
export type Attrs = Record<string, AttrValue | undefined>;

/** Choices between equivalent gradient forms. */
export interface GradOptions {
  /**
   * Input gradient of stride-1 Conv: 'flipped-conv' (default) runs a Conv with the flipped, channel-swapped kernel,
   * much faster than ConvTranspose on onnxruntime's CPU provider (the flipped kernel is folded once at session
   * creation: on CPU it replaces the copy ConvTranspose would keep; on CUDA it is one extra copy of the conv
   * weights). 'flipped-conv-per-step' flips the kernel in the backward of every run instead (a Slice whose starts
   * depend on the incoming gradient, so onnxruntime can neither fold it nor run it early): no resident copy — on
   * SD1.5 the folded copies are 2.1 GiB — for one transient kernel copy per conv and step, at the price of
   * onnxruntime's slower non-NCHWc Conv for runtime weights. 'conv-transpose' always uses ConvTranspose with the
   * original weights.
   */
  convInputGrad?: 'flipped-conv' | 'flipped-conv-per-step' | 'conv-transpose';
  /**
   * Weight gradient of Conv: 'patches' (default where kernel, channel and output sizes are static) stacks the
   * input's kernel-offset slices and takes one matrix product with dY; 'conv' is the batch-as-channels Conv of
   * Xᵀ with dYᵀ (any spatial sizes, group 1), which onnxruntime's CPU Conv runs several times slower.
   */
  convWeightGrad?: 'patches' | 'conv';
  /**
   * Recompute forward values that are one cheap elementwise op away from values the backward keeps anyway,
   * instead of holding them through the backward (default true; see remat.ts).
   */
  recompute?: boolean;
  /**
   * Recompute attention probabilities P = Softmax(scale·Q·Kᵀ [+ mask]) from Q and K in the backward instead of
   * keeping P from the forward (the Softmax VJP and dV = Pᵀ·dO read it). 'auto' (default) does it when the static
   * shape says the score matrix is at least 1024×1024 (SD's 64×64-latent self-attention: 512 MiB per P against
   * 5 MiB for Q and K); 'always' for every recognised chain; 'never' keeps P. Independent of `recompute`.
   * Costs one Q·Kᵀ MatMul and one Softmax per attention in the backward (see remat.ts).
   */
  recomputeAttention?: 'auto' | 'always' | 'never';
  /**
   * Split attention whose score matrix (all heads) is larger than this many bytes into groups of heads before
   * differentiating, so one group's N×N matrices are live at a time, forward and backward (split-attention.ts).
   * Default 64 MiB: SD's 64×64-latent self-attention (512 MiB of scores) runs head by head; 'never' keeps every
   * chain whole.
   */
  splitAttention?: number | 'never';
}

/**
 * The backward section's writer, shared by all rules of one `differentiate` call.
 *
 * @example
 * const em = new GradEmitter(new GraphBuilder(graph), ValueFacts.forGraph(graph, 17), forwardNames);
 * em.reduceSum(em.emit('Mul', [g, x]), [0], false);
 */
export class GradEmitter {
  /** Shape nodes that read forward values; the driver moves them next to their producers. */
  readonly shapeNodes = new Set<Node>();
  /** The default-domain opset the output model needs (raised by rules that need newer op forms). */
  opset: number;
  private consts = new Map<string, string>();
  private shapes = new Map<string, string>();
  /** Output → data input of the Reshapes emitted so far. */
  private reshaped = new Map<string, string>();

  constructor(
    readonly b: GraphBuilder,
    readonly facts: ValueFacts,
    readonly forward: ReadonlySet<string>,
    readonly options: GradOptions = {},
    private prefix = 'grad',
  ) {
    this.opset = facts.opset;
  }

  /** Names new nodes after the forward node whose gradient they compute. */
  setPrefix(p: string) {
    this.prefix = p;
  }

  emitN(op: string, inputs: string[], n: number, attrs: Attrs = {}): string[] {
    // Reshape of a Reshape we emitted reads the first one's input instead: onnxruntime's Reshape fusion fails to
    // initialise on such pairs when the inner target is a run-time Shape ("Attempting to get index by a name which
    // does not exist"). A target with a 0 (copy that dim) depends on the inner shape, so it keeps the pair.
    const inner = op === 'Reshape' && !attrs.allowzero ? this.reshaped.get(inputs[0]) : undefined;
    if (inner && !this.values(inputs[1])?.includes(0)) inputs = [inner, inputs[1]];
    // Gemm's C is optional only from opset 11: before, a scalar 0 (broadcast) stands for it.
    if (op === 'Gemm' && inputs.length === 2 && this.opset < 11)
      inputs = [...inputs, this.scalar(0, this.elem(inputs[0]))];
    const outs = this.b.opN(op, inputs, n, attrs, { name: `${this.prefix}/${op}` });
    if (op === 'Reshape' && !attrs.allowzero) this.reshaped.set(outs[0], inputs[0]);
    this.facts.infer(this.b.graph.nodes[this.b.graph.nodes.length - 1]);
    return outs;
  }
  emit(op: string, inputs: string[], attrs: Attrs = {}): string {
    return this.emitN(op, inputs, 1, attrs)[0];
  }

  /** The forward node `n` again on other inputs, with its attributes and `outputs` outputs. */
  emitCopy(n: Node, inputs: string[], outputs = 1): string[] {
    const outs = this.b.opN(n.opType, inputs, outputs, {}, { name: `${this.prefix}/${n.opType}` });
    const m = this.b.graph.nodes[this.b.graph.nodes.length - 1];
    m.attributes = [...n.attributes];
    this.facts.infer(m);
    return outs;
  }

  get(v: string): Facts | undefined {
    return this.facts.get(v);
  }
  elem(v: string): number {
    return this.facts.get(v)?.elem || DataType.FLOAT;
  }
  shape(v: string): Dim[] | undefined {
    return this.facts.get(v)?.shape;
  }
  values(v: string): number[] | undefined {
    return numbersOf(this.facts.get(v));
  }

  /** A scalar (rank 0) constant of the element type `elem` (float32, float16, double, int64…). */
  scalar(value: number, elem: number): string {
    const key = `s${elem}:${value}`;
    let name = this.consts.get(key);
    if (!name) {
      const t =
        elem === DataType.FLOAT16
          ? tensor('float16', [], Uint16Array.of(toHalf(value)))
          : elem === DataType.DOUBLE
            ? tensor('float64', [], Float64Array.of(value))
            : elem === DataType.INT64
              ? tensor('int64', [], BigInt64Array.of(BigInt(value)))
              : tensor('float32', [], Float32Array.of(value));
      name = this.b.initializer('grad_const', t);
      this.facts.set(name, { elem, shape: [], value: [value] });
      this.consts.set(key, name);
    }
    return name;
  }

  /** An int64 vector constant (shapes, axes, pads, starts). */
  ints(values: readonly number[]): string {
    const key = `i:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.b.constI64([...values], [values.length], 'grad_ints');
      this.facts.set(name, { elem: DataType.INT64, shape: [values.length], value: [...values] });
      this.consts.set(key, name);
    }
    return name;
  }

  /** The shape of `v` as an int64 vector: a constant when static, else one shared Shape node. */
  shapeOf(v: string): string {
    const s = this.shape(v);
    if (s?.every((d) => typeof d === 'number')) return this.ints(s as number[]);
    let name = this.shapes.get(v);
    if (!name) {
      name = this.emit('Shape', [v]);
      if (this.forward.has(v)) this.shapeNodes.add(this.b.graph.nodes[this.b.graph.nodes.length - 1]);
      this.shapes.set(v, name);
    }
    return name;
  }

  /** A Reshape target giving `v`'s shape: a constant with −1 for at most one dynamic dim, else shapeOf(v). */
  reshapeTo(v: string): string {
    const s = this.shape(v);
    const dynamic = s ? s.filter((d) => typeof d !== 'number').length : Infinity;
    return dynamic <= 1 && !s!.includes(0)
      ? this.ints(s!.map((d) => (typeof d === 'number' ? d : -1)))
      : this.shapeOf(v);
  }

  /** Dim `axis` of `v` as an int64 [1] vector. */
  dimOf(v: string, axis: number): string {
    const d = this.shape(v)?.[axis];
    if (typeof d === 'number') return this.ints([d]);
    return this.sliceVector(this.shapeOf(v), axis, axis + 1);
  }

  /** Entries `from` to `to` (exclusive; past the end is the end) of a 1-D tensor; Slice took attributes before 10. */
  sliceVector(v: string, from: number, to: number): string {
    const end = Math.min(to, 2 ** 31 - 1);
    return this.opset >= 10
      ? this.emit('Slice', [v, this.ints([from]), this.ints([end])])
      : this.emit('Slice', [v], { starts: [from], ends: [end] });
  }

  /** ReduceSum over `axes` (axes as an input from opset 13). Empty axes is the identity. */
  reduceSum(v: string, axes: readonly number[], keepdims: boolean): string {
    if (axes.length === 0) return v;
    const k = keepdims ? 1 : 0;
    return this.opset >= 13
      ? this.emit('ReduceSum', [v, this.ints(axes)], { keepdims: k })
      : this.emit('ReduceSum', [v], { axes: [...axes], keepdims: k });
  }

  /** ReduceMean over `axes` (axes as an input from opset 18). */
  reduceMean(v: string, axes: readonly number[], keepdims: boolean): string {
    const k = keepdims ? 1 : 0;
    return this.opset >= 18
      ? this.emit('ReduceMean', [v, this.ints(axes)], { keepdims: k })
      : this.emit('ReduceMean', [v], { axes: [...axes], keepdims: k });
  }

  squeeze(v: string, axes: readonly number[]): string {
    if (axes.length === 0) return v;
    return this.opset >= 13
      ? this.emit('Squeeze', [v, this.ints(axes)])
      : this.emit('Squeeze', [v], { axes: [...axes] });
  }

  unsqueeze(v: string, axes: readonly number[]): string {
    if (axes.length === 0) return v;
    return this.opset >= 13
      ? this.emit('Unsqueeze', [v, this.ints(axes)])
      : this.emit('Unsqueeze', [v], { axes: [...axes] });
  }

  /**
   * `v` broadcast to `like`'s shape: Expand from opset 8; before it, v + 0·like (Add broadcasts from opset 7; a NaN
   * or infinity in `like` would leak, and old graphs have no other way to make a shape).
   */
  expandTo(v: string, like: string): string {
    if (this.opset >= 8) return this.emit('Expand', [v, this.shapeOf(like)]);
    return this.emit('Add', [v, this.emit('Mul', [like, this.scalar(0, this.elem(like))])]);
  }

  /** Zeros shaped like `v`, in `v`'s element type. */
  zerosLike(v: string): string {
    return this.zeros(this.shapeOf(v), this.elem(v));
  }

  /** Zeros of the shape held by the int64 vector `shape`, in element type `e` (ConstantOfShape is opset 9: an
   * Expand of a scalar zero before). */
  zeros(shape: string, e: number): string {
    if (this.opset < 9) return this.emit('Expand', [this.scalar(0, e), shape]);
    const one =
      e === DataType.FLOAT16
        ? tensor('float16', [1], Uint16Array.of(0))
        : e === DataType.DOUBLE
          ? tensor('float64', [1], Float64Array.of(0))
          : tensor('float32', [1], Float32Array.of(0));
    return this.emit('ConstantOfShape', [shape], { value: one });
  }

  /** `v` in float32 when it is float16, for sums and statistics that lose too much in half precision. */
  f32(v: string): string {
    return this.elem(v) === DataType.FLOAT16 ? this.emit('Cast', [v], { to: DataType.FLOAT }) : v;
  }

  /** `v` cast back to `like`'s element type when they differ. */
  castLike(v: string, like: string): string {
    return this.elem(v) !== this.elem(like) ? this.emit('Cast', [v], { to: this.elem(like) }) : v;
  }
}
