/**
 * Static facts about every value of a graph: element type, shape (with symbolic dims) and, for small integer
 * tensors, the values themselves. The values let torch's Shape → Gather → Concat → Reshape chains fold to ranks
 * and dims, so rules and un-broadcasting can be decided while building the graph; whatever stays unknown is
 * computed at run time with Shape ops (dynamic batch sizes work either way).
 */
import type { Dim, Graph, Node } from '../onnx/proto.ts';
import { DataType } from '../onnx/proto.ts';
import { readTensorProto } from '../onnx/tensor-proto.ts';
import { shapeRules } from './shape-rules.ts';
import { nnShapeRules } from './shape-rules-nn.ts';

/** What is known about one value. */
export interface Facts {
  /** ONNX element type (DataType number); 0 when unknown. */
  elem: number;
  /** Dims when the rank is known. */
  shape?: Dim[];
  /** Flat element values of a small tensor when known (entries may be symbolic dims). */
  value?: Dim[];
}

/** One op's inference: the facts of its outputs from the facts of its inputs (undefined where unknown). */
export type InferRule = (n: Node, ins: (Facts | undefined)[], opset: number) => (Facts | undefined)[];

// Built on first use: shape-rules*.ts import helpers from this file, so at load time one side of that cycle is
// not initialised yet (which side depends on which module a program imports first).
let rulesCache: Record<string, InferRule> | undefined;
const rules = (): Record<string, InferRule> => (rulesCache ??= { ...shapeRules, ...nnShapeRules });

/** Values of small tensors are tracked up to this many elements. */
const maxValueSize = 64;

const isFloat = (e: number) => e === DataType.FLOAT || e === DataType.FLOAT16 || e === DataType.DOUBLE || e === DataType.BFLOAT16;

/** Whether an element type carries gradients. */
export const isDifferentiable = (elem: number): boolean => isFloat(elem) || elem === 0;

/** Numbers of a value when all of it is known and numeric. */
export const numbersOf = (f: Facts | undefined): number[] | undefined =>
  f?.value && f.value.every((v) => typeof v === 'number') ? (f.value as number[]) : undefined;

/**
 * Facts about the values of a graph, filled in node by node. The autodiff also feeds it the nodes it emits, so
 * rules can ask about intermediate gradients too.
 *
 * @example
 * const facts = ValueFacts.forGraph(model.graph, 17);
 * facts.get('sample')?.shape // ['batch', 4, 64, 64]
 */
export class ValueFacts {
  private map = new Map<string, Facts>();
  constructor(readonly opset: number) {}

  static forGraph(g: Graph, opset: number, order: readonly Node[] = g.nodes): ValueFacts {
    const f = new ValueFacts(opset);
    for (const t of g.initializers) {
      const n = t.dims.reduce((a, b) => a * b, 1);
      let value: Dim[] | undefined;
      if (n <= maxValueSize && !t.external && t.dataType !== DataType.FLOAT16) {
        try {
          value = Array.from(readTensorProto(t).data as ArrayLike<number | bigint>, (v) => Number(v));
        } catch {
          value = undefined; // a dtype we do not read (string, bfloat16): its values stay unknown
        }
      }
      f.set(t.name, { elem: t.dataType, shape: [...t.dims], value });
    }
    for (const v of [...g.inputs, ...g.valueInfo]) if (v.type && !f.has(v.name)) f.set(v.name, { elem: v.type.elemType, shape: v.type.shape ?? undefined });
    for (const n of order) f.infer(n);
    for (const v of g.outputs) if (v.type && !f.get(v.name)?.shape) f.set(v.name, { elem: v.type.elemType, shape: v.type.shape ?? undefined });
    return f;
  }

  has(name: string): boolean { return this.map.has(name); }
  get(name: string): Facts | undefined { return name ? this.map.get(name) : undefined; }
  set(name: string, f: Facts): void { this.map.set(name, f); }

  /** Infers the facts of a node's outputs; unknown ops leave them unknown (keeping declared value_info). */
  infer(n: Node): void {
    const rule = n.domain === '' || n.domain === 'ai.onnx' ? rules()[n.opType] : undefined;
    let outs: (Facts | undefined)[] = [];
    try {
      outs = rule ? rule(n, n.inputs.map((i) => this.get(i)), this.opset) : [];
    } catch {
      outs = []; // an inference gap is not an error: the autodiff falls back to run-time shapes
    }
    n.outputs.forEach((o, k) => {
      const f = outs[k];
      const prior = this.map.get(o);
      if (f) {
        if (f.value && f.value.length > maxValueSize) delete f.value;
        this.map.set(o, { ...f, elem: f.elem || prior?.elem || 0, shape: f.shape ?? prior?.shape });
      } else if (!prior) this.map.set(o, { elem: 0 });
    });
  }
}
