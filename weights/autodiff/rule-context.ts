/**
 * What a VJP rule sees: the forward node's inputs and outputs (`x(i)`, `y(i)`), the cotangents of its outputs
 * (`gy(i)`), which inputs need a gradient (`needs(i)`), and helpers to emit ops — the ORT gradient builders'
 * I/O/GO/GI in TypeScript. A rule returns one gradient name per input, undefined where none flows; the driver
 * sums fan-out and undoes broadcasting, so rules stay short.
 */
import { AttrType, type Dim, type Graph, type Node } from '../onnx/proto.ts';
import { makeTensorProto } from '../onnx/tensor-proto.ts';
import { attr, GraphBuilder } from '../onnx/builder.ts';
import { PipelineError } from '../../common/errors.ts';
import { type Attrs, GradEmitter, type GradOptions } from './grad-emitter.ts';
import { type Differentiator, inlineGraph } from './subgraph-vjp.ts';

/**
 * What a rule may read of the rest of the graph: the forward nodes reading a value, and the summed cotangent of a
 * value the reverse walk has already passed (a later forward value), for rules that use an identity across nodes.
 */
export interface GraphView {
  consumers(v: string): readonly Node[];
  cotangent(v: string): string | undefined;
  /** Whether `v` is the differentiated output (seeded with 1, so its cotangent has a source beyond its readers). */
  isSeed(v: string): boolean;
}

/** A VJP rule: cotangents of the outputs in, cotangents of the inputs out. */
export type Rule = (c: VjpContext) => readonly (string | undefined)[];

/**
 * The context of one rule call.
 *
 * @example
 * // Sin: dX = dY·cos X
 * export const sin: Rule = (c) => [c.emit('Mul', [c.gy(0)!, c.emit('Cos', [c.x(0)])])];
 */
export class VjpContext {
  constructor(
    private readonly e: GradEmitter,
    readonly node: Node,
    private readonly grads: readonly (string | undefined)[],
    private readonly need: readonly boolean[],
    private readonly where: () => string,
    private readonly view?: GraphView,
    private readonly differentiate?: Differentiator,
  ) {}

  /** The driver, for rules that differentiate a subgraph. */
  differentiator(): Differentiator {
    if (!this.differentiate)
      throw new PipelineError(
        'internal',
        `the rule for ${this.node.opType} needs the driver to differentiate a subgraph`,
      );
    return this.differentiate;
  }

  /**
   * The forward node's first `count` outputs, naming the optional ones it does not produce yet so that it does
   * (for statistics an op computes anyway, e.g. LayerNormalization's Mean and InvStdDev): the forward then hands
   * them to the backward instead of the backward computing them again.
   */
  forwardOutputs(count: number): string[] {
    const n = this.node;
    const missing = Array.from({ length: count }, (_, k) => !n.outputs[k]);
    if (missing.some(Boolean)) {
      n.outputs = Array.from({ length: Math.max(count, n.outputs.length) }, (_, k) =>
        missing[k] ? this.e.b.fresh(`${n.name || n.opType}/output${k}`) : n.outputs[k],
      );
      this.e.facts.infer(n);
    }
    return n.outputs.slice(0, count);
  }

  /** The forward nodes that read `v` (none known without a graph view). */
  consumers(v: string): readonly Node[] {
    return this.view?.consumers(v) ?? [];
  }
  /**
   * The total cotangent of a forward value whose readers the reverse walk has already differentiated, when `v`
   * is not the seed; undefined otherwise.
   */
  cotangentOf(v: string): string | undefined {
    return this.view && !this.view.isSeed(v) ? this.view.cotangent(v) : undefined;
  }

  /** The default-domain opset the output model needs so far (rules may have raised the forward model's). */
  get opset(): number {
    return this.e.opset;
  }
  /** The forward model's own opset: which version of the node's op this is. */
  get forwardOpset(): number {
    return this.e.facts.opset;
  }
  /** The caller's choices between equivalent gradient forms. */
  get options(): GradOptions {
    return this.e.options;
  }
  x(i: number): string {
    return this.node.inputs[i] ?? '';
  }
  y(i: number): string {
    return this.node.outputs[i] ?? '';
  }
  gy(i: number): string | undefined {
    return this.grads[i];
  }
  /** gy(i), or zeros shaped like output i when no gradient reached it (multi-output ops). */
  gyOrZeros(i: number): string {
    return this.grads[i] ?? this.e.zerosLike(this.y(i));
  }
  needs(i: number): boolean {
    return this.need[i] ?? false;
  }
  /** An attribute of the forward node, or the fallback. */
  attr(name: string, fallback: number): number;
  attr(name: string, fallback: string): string;
  attr<T>(name: string, fallback: T): T;
  attr<T>(name: string, fallback: T): T {
    return attr<T>(this.node, name, fallback);
  }

  emit(op: string, inputs: string[], attrs?: Attrs): string {
    return this.e.emit(op, inputs, attrs);
  }
  /** This node's op again, with its attributes, on other inputs (its first output). */
  emitCopy(inputs: string[]): string {
    return this.e.emitCopy(this.node, inputs)[0];
  }
  /** This node's op again, with its attributes, on other inputs, with `n` outputs. */
  emitCopyN(inputs: string[], n: number): string[] {
    return this.e.emitCopy(this.node, inputs, n);
  }
  emitN(op: string, inputs: string[], n: number, attrs?: Attrs): string[] {
    return this.e.emitN(op, inputs, n, attrs);
  }
  /** A scalar constant in the element type of `like`. */
  scalar(value: number, like: string): string {
    return this.e.scalar(value, this.e.elem(like));
  }
  /** A scalar constant of element type `elem` (a DataType number). */
  scalarOfType(value: number, elem: number): string {
    return this.e.scalar(value, elem);
  }
  ints(values: readonly number[]): string {
    return this.e.ints(values);
  }
  elem(v: string): number {
    return this.e.elem(v);
  }
  shape(v: string): Dim[] | undefined {
    return this.e.shape(v);
  }
  values(v: string): number[] | undefined {
    return v ? this.e.values(v) : undefined;
  }
  shapeOf(v: string): string {
    return this.e.shapeOf(v);
  }
  dimOf(v: string, axis: number): string {
    return this.e.dimOf(v, axis);
  }
  /** Entries `from` to `to` of a 1-D tensor such as a shape (Slice's form for the opset). */
  sliceVector(v: string, from: number, to: number): string {
    return this.e.sliceVector(v, from, to);
  }
  /** A Reshape target for `v`'s shape (a constant with one −1 when only one dim is dynamic). */
  reshapeTo(v: string): string {
    return this.e.reshapeTo(v);
  }
  reduceSum(v: string, axes: readonly number[], keepdims: boolean): string {
    return this.e.reduceSum(v, axes, keepdims);
  }
  reduceMean(v: string, axes: readonly number[], keepdims: boolean): string {
    return this.e.reduceMean(v, axes, keepdims);
  }
  squeeze(v: string, axes: readonly number[]): string {
    return this.e.squeeze(v, axes);
  }
  unsqueeze(v: string, axes: readonly number[]): string {
    return this.e.unsqueeze(v, axes);
  }
  /** a = b elementwise as a bool tensor (Equal takes floats from opset 11; before, neither a < b nor a > b). */
  equal(a: string, b: string): string {
    if (this.opset >= 11) return this.emit('Equal', [a, b]);
    return this.emit('Not', [this.emit('Or', [this.emit('Less', [a, b]), this.emit('Greater', [a, b])])]);
  }
  /** `v` broadcast to `like`'s shape (Expand, or an Add before opset 8). */
  expandTo(v: string, like: string): string {
    return this.e.expandTo(v, like);
  }
  zerosLike(v: string): string {
    return this.e.zerosLike(v);
  }
  /** Zeros of static dims `dims` in element type `elem`. */
  zerosOf(dims: readonly number[], elem: number): string {
    return this.e.zeros(this.e.ints(dims), elem);
  }
  f32(v: string): string {
    return this.e.f32(v);
  }
  castLike(v: string, like: string): string {
    return this.e.castLike(v, like);
  }

  /**
   * A context like this one whose ops go into `g`, a body the rule builds (its names still fresh across all scopes,
   * as ONNX requires; its constants Constant nodes, since before IR 4 a graph's initializers had to be its inputs
   * too); the rule raises its own opset to what the body asked for (`requireOpset(sub.opset)`).
   */
  inBody(g: Graph): VjpContext {
    const b = new GraphBuilder(g);
    b.fresh = (base) => this.e.b.fresh(base);
    b.initializer = (base, t) => {
      const name = b.fresh(base);
      const value = { name: 'value', type: AttrType.TENSOR, t: makeTensorProto('', t), unknown: [] };
      g.nodes.unshift({
        name: `${name}_node`,
        opType: 'Constant',
        domain: '',
        inputs: [],
        outputs: [name],
        attributes: [value],
        unknown: [],
      });
      return name;
    };
    const e = new GradEmitter(b, this.e.facts, this.e.forward, this.e.options);
    e.opset = this.e.opset;
    return new VjpContext(e, this.node, this.grads, this.need, this.where, this.view, this.differentiate);
  }

  /** A name unused in the graph being written (for values inside subgraphs the rule builds). */
  fresh(base: string): string {
    return this.e.b.fresh(base);
  }
  /** Records that `v` has `like`'s element type (for outputs of ops inference does not know, like Loop). */
  sameElem(v: string, like: string): string {
    this.e.facts.set(v, { ...this.e.facts.get(v), elem: this.e.elem(like) });
    return v;
  }
  /** Copies graph `g` into the backward section, its inputs bound to values here; its outputs' names here. */
  inline(g: Graph, bind: ReadonlyMap<string, string>): string[] {
    return inlineGraph(this.e, g, bind);
  }

  /** The rank of `v`; rules that need it fail clearly when static inference could not tell. */
  rank(v: string): number {
    const s = this.e.shape(v);
    if (!s) this.fail(`needs the rank of '${v}', which static shape inference could not determine`);
    return s!.length;
  }

  /** Asks the output model for at least this default-domain opset (for newer op forms). */
  requireOpset(v: number): void {
    this.e.opset = Math.max(this.e.opset, v);
  }

  /** Rejects a case this rule does not handle, naming the op, the node and the gradient path. */
  fail(why: string): never {
    const n = this.node;
    throw new PipelineError(
      'unsupported_op',
      `no gradient rule for ${n.opType} ${why} (node '${n.name || n.outputs[0]}')${this.where()}`,
      { op: n.opType, node: n.name },
    );
  }
}
