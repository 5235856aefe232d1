/**
 * A forward op written out as a small graph of ops that already have rules (Gather, Mul, Where, …), so that its
 * gradient is the driver's gradient of that graph: for ops whose VJP is long by hand but whose forward is a few
 * gathers and products (RoiAlign, bicubic GridSample). The graph is differentiated once per node, with the output
 * cotangents as inputs (subgraph-vjp.ts), and inlined into the backward section.
 */
import { GraphBuilder } from '../onnx/builder.ts';
import { DataType, type Dim, emptyGraph } from '../onnx/proto.ts';
import { tensor } from '../../common/tensor.ts';
import { toHalf } from '../../common/numerics/half.ts';
import type { VjpContext } from './rule-context.ts';
import { graphVjp } from './subgraph-vjp.ts';

/**
 * The graph being written: inputs named as the rule likes, constants in the forward's float type, version-correct
 * forms of the reductions.
 *
 * @example
 * const d = new Decomposition(c.opset, c.elem(c.x(0)));
 * const y = d.op('Mul', [d.input('X', c.elem(c.x(0)), c.shape(c.x(0))), d.k(2)]);
 * return d.vjp(c, [y], [['X', c.x(0)]], ['X']);
 */
export class Decomposition {
  readonly b = new GraphBuilder(emptyGraph('decomposition'));
  constructor(
    readonly opset: number,
    readonly elem: number,
  ) {}

  input(name: string, elem: number, shape: Dim[] | undefined): string {
    this.b.graph.inputs.push({ name, type: { elemType: elem, shape: shape ?? null }, unknown: [] });
    return name;
  }
  /** A scalar of the forward's float type. */
  k(v: number): string {
    return this.consts([v], []);
  }
  /** A constant of the forward's float type (float64, float16, else float32) with the given dims. */
  consts(values: number[], dims: number[]): string {
    if (this.elem === DataType.DOUBLE)
      return this.b.initializer('k', tensor('float64', dims, Float64Array.from(values)));
    if (this.elem === DataType.FLOAT16)
      return this.b.initializer('k', tensor('float16', dims, Uint16Array.from(values, toHalf)));
    return this.b.initializer('k', tensor('float32', dims, Float32Array.from(values)));
  }
  ints(values: number[]): string {
    return this.b.constI64(values, [values.length], 'i');
  }
  op(opType: string, inputs: string[], attrs: Parameters<GraphBuilder['op']>[2] = {}): string {
    return this.b.op(opType, inputs, attrs);
  }
  asFloat(v: string): string {
    return this.op('Cast', [v], { to: this.elem });
  }
  reduceSum(v: string, axes: number[], keepdims = 0): string {
    return this.opset >= 13
      ? this.op('ReduceSum', [v, this.ints(axes)], { keepdims })
      : this.op('ReduceSum', [v], { axes, keepdims });
  }
  reduceMax(v: string, axes: number[], keepdims = 0): string {
    return this.opset >= 18
      ? this.op('ReduceMax', [v, this.ints(axes)], { keepdims })
      : this.op('ReduceMax', [v], { axes, keepdims });
  }
  unsqueeze(v: string, axes: number[]): string {
    return this.opset >= 13 ? this.op('Unsqueeze', [v, this.ints(axes)]) : this.op('Unsqueeze', [v], { axes });
  }

  /**
   * The gradients of the inputs `wrt` (by the names given to `input`), the graph's `outputs` receiving the node's
   * output cotangents in order; `bind` maps every input of the graph to the value it stands for.
   */
  vjp(c: VjpContext, outputs: string[], bind: [string, string][], wrt: string[]): (string | undefined)[] {
    const used = outputs.flatMap((o, k) => (c.gy(k) ? [{ o, g: c.gy(k)! }] : []));
    if (used.length === 0 || wrt.length === 0) return wrt.map(() => undefined);
    const graph = { ...this.b.graph, outputs: [] };
    const v = graphVjp(
      c.differentiator(),
      graph,
      this.opset,
      used.map(({ o }) => ({ name: o, type: { elemType: this.elem, shape: null } })),
      wrt,
    );
    c.requireOpset(v.opset);
    const names = c.inline(v.graph, new Map([...bind, ...used.map(({ g }, k) => [v.cts[k], g] as [string, string])]));
    return v.grads.map((g) => names[v.graph.outputs.findIndex((o) => o.name === g)]);
  }
}
