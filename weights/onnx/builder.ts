/**
 * A small graph builder: emit nodes, constants and parameters with unique names, then wrap them in a Model.
 * The tiny-model builders and the autodiff both write graphs through it.
 *
 * @example
 * const b = new GraphBuilder();
 * const x = b.input('x', 'float32', ['batch', 4]);
 * const y = b.op('Relu', [x]);
 * b.output(y, 'float32', ['batch', 4], 'y');
 * const model = b.toModel();
 */
import {
  AttrType,
  DataType,
  emptyGraph,
  type Attribute,
  type Dim,
  type Graph,
  type Model,
  type Node,
  type TensorProto,
} from './proto.ts';
import { makeTensorProto, onnxTypeOf } from './tensor-proto.ts';
import { tensor, type DType, type Tensor } from '../../common/tensor.ts';

/** Forces a number to be written as a FLOAT attribute (an integral number is written as INT otherwise). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export class FloatsAttr {
  constructor(readonly value: number[]) {}
}
export const f = (v: number) => new FloatAttr(v);
export const fs = (v: number[]) => new FloatsAttr(v);

export type AttrValue = number | string | number[] | FloatAttr | FloatsAttr | Tensor | Graph;

/** Turns a friendly attribute value into an AttributeProto. */
export const attribute = (name: string, v: AttrValue): Attribute => {
  const a: Attribute = { name, type: 0, unknown: [] };
  if (v instanceof FloatAttr) return { ...a, type: AttrType.FLOAT, f: v.value };
  if (v instanceof FloatsAttr) return { ...a, type: AttrType.FLOATS, floats: v.value };
  if (typeof v === 'number')
    return Number.isInteger(v) ? { ...a, type: AttrType.INT, i: v } : { ...a, type: AttrType.FLOAT, f: v };
  if (typeof v === 'string') return { ...a, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { ...a, type: AttrType.INTS, ints: v };
  if ('nodes' in v) return { ...a, type: AttrType.GRAPH, g: v };
  return { ...a, type: AttrType.TENSOR, t: makeTensorProto('', v) };
};

/** Reads an attribute's value by name, or the fallback. */
export const attr = <T = number>(node: Node, name: string, fallback?: T): T => {
  const a = node.attributes.find((x) => x.name === name);
  if (!a) return fallback as T;
  switch (a.type) {
    case AttrType.FLOAT:
      return a.f as T;
    case AttrType.INT:
      return a.i as T;
    case AttrType.STRING:
      return new TextDecoder().decode(a.s) as T;
    case AttrType.FLOATS:
      return (a.floats ?? []) as T;
    case AttrType.INTS:
      return (a.ints ?? []) as T;
    case AttrType.TENSOR:
      return a.t as T;
    case AttrType.GRAPH:
      return a.g as T;
    default:
      return fallback as T;
  }
};

export interface OpOptions {
  name?: string;
  domain?: string;
  outputs?: string[];
}

export class GraphBuilder {
  readonly graph: Graph;
  private used = new Set<string>();
  private counters = new Map<string, number>();

  /** Starts empty, or appends to an existing graph (its names are reserved). */
  constructor(graph: Graph = emptyGraph('pseudoword')) {
    this.graph = graph;
    for (const n of graph.nodes) {
      this.used.add(n.name);
      n.outputs.forEach((o) => this.used.add(o));
    }
    for (const t of graph.initializers) this.used.add(t.name);
    for (const v of graph.inputs) this.used.add(v.name);
  }

  /** A name not yet used in the graph, derived from `base`. */
  fresh(base: string): string {
    let k = this.counters.get(base) ?? 0;
    let name = k === 0 && !this.used.has(base) ? base : `${base}_${k}`;
    while (this.used.has(name)) name = `${base}_${++k}`;
    this.counters.set(base, k + 1);
    this.used.add(name);
    return name;
  }

  /** Emits one node with a single output and returns that output's name. */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue | undefined> = {},
    opts: OpOptions = {},
  ): string {
    return this.opN(opType, inputs, 1, attrs, opts)[0];
  }

  /** Emits one node with `n` outputs and returns their names. */
  opN(
    opType: string,
    inputs: string[],
    n: number,
    attrs: Record<string, AttrValue | undefined> = {},
    opts: OpOptions = {},
  ): string[] {
    const base = opts.name ?? opType;
    const name = this.fresh(base);
    const outputs = opts.outputs ?? Array.from({ length: n }, (_, i) => this.fresh(`${name}_out${n > 1 ? i : ''}`));
    outputs.forEach((o) => this.used.add(o));
    const attributes = Object.entries(attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => attribute(k, v!));
    this.graph.nodes.push({ name, opType, domain: opts.domain ?? '', inputs, outputs, attributes, unknown: [] });
    return outputs;
  }

  /** Adds an initializer holding `t` and returns its name. */
  initializer(base: string, t: Tensor): string {
    const name = this.fresh(base);
    this.graph.initializers.push(makeTensorProto(name, t));
    return name;
  }

  /** Adds an already-encoded initializer under its own name. */
  addTensorProto(t: TensorProto): string {
    this.used.add(t.name);
    this.graph.initializers.push(t);
    return t.name;
  }

  /** A float32 constant (scalar when `dims` is omitted and one value is given). */
  constF(values: number | number[], dims?: number[], base = 'c'): string {
    const v = typeof values === 'number' ? [values] : values;
    return this.initializer(
      base,
      tensor('float32', dims ?? (typeof values === 'number' ? [] : [v.length]), Float32Array.from(v)),
    );
  }

  /** An int64 constant, for shapes, axes, starts and ends. */
  constI64(values: number | number[], dims?: number[], base = 'c'): string {
    const v = typeof values === 'number' ? [values] : values;
    return this.initializer(
      base,
      tensor(
        'int64',
        dims ?? (typeof values === 'number' ? [] : [v.length]),
        BigInt64Array.from(v.map((x) => BigInt(x))),
      ),
    );
  }

  input(name: string, dtype: DType, shape: Dim[]): string {
    this.used.add(name);
    this.graph.inputs.push({ name, type: { elemType: onnxTypeOf(dtype), shape }, unknown: [] });
    return name;
  }

  /** Declares `value` a graph output, renaming it through Identity when a different name is wanted. */
  output(value: string, dtype: DType, shape: Dim[] | null, name = value): string {
    const out = name === value ? value : this.op('Identity', [value], {}, { outputs: [name] });
    this.graph.outputs.push({ name: out, type: { elemType: onnxTypeOf(dtype), shape }, unknown: [] });
    return out;
  }

  /** Wraps the graph as a model for the given default-domain opset. */
  toModel(opset = 17, extraOpsets: { domain: string; version: number }[] = []): Model {
    return {
      irVersion: opset >= 19 ? 9 : 8,
      opsetImport: [{ domain: '', version: opset }, ...extraOpsets],
      producerName: 'pseudoword',
      producerVersion: '0.1.0',
      domain: '',
      modelVersion: 0,
      docString: '',
      graph: this.graph,
      metadataProps: [],
      unknown: [],
    };
  }
}

export { DataType };
