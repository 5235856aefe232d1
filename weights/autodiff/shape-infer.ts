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
import type { Facts, InferRule } from './shape-facts.ts';

const rules: Record<string, InferRule> = { ...shapeRules, ...nnShapeRules };

/** Values of small tensors are tracked up to this many elements. */
const maxValueSize = 64;

const isFloat = (e: number) =>
  e === DataType.FLOAT || e === DataType.FLOAT16 || e === DataType.DOUBLE || e === DataType.BFLOAT16;

/** Whether an element type carries gradients. */
export const isDifferentiable = (elem: number): boolean => isFloat(elem) || elem === 0;

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
    // Declared types (outputs too) are priors: inference refines them, and keeps them where it knows nothing.
    for (const v of [...g.inputs, ...g.valueInfo, ...g.outputs])
      if (v.type && !f.has(v.name)) f.set(v.name, { elem: v.type.elemType, shape: v.type.shape ?? undefined });
    for (const n of order) f.infer(n);
    return f;
  }

  has(name: string): boolean {
    return this.map.has(name);
  }
  get(name: string): Facts | undefined {
    return name ? this.map.get(name) : undefined;
  }
  set(name: string, f: Facts): void {
    this.map.set(name, f);
  }

  /** Infers the facts of a node's outputs; unknown ops leave them unknown (keeping declared value_info). */
  infer(n: Node): void {
    const rule = n.domain === '' || n.domain === 'ai.onnx' ? rules[n.opType] : undefined;
    let outs: (Facts | undefined)[] = [];
    try {
      outs = rule
        ? rule(
            n,
            n.inputs.map((i) => this.get(i)),
            this.opset,
          )
        : [];
    } catch {
      outs = []; // an inference gap is not an error: the autodiff falls back to run-time shapes
    }
    n.outputs.forEach((o, k) => {
      const f = outs[k];
      const prior = this.map.get(o);
      if (f) {
        if (f.value && f.value.length > maxValueSize) delete f.value;
        // A dim inference left open takes the declared one (the same rank only).
        const p = prior?.shape;
        const shape = f.shape && p?.length === f.shape.length ? f.shape.map((d, j) => d ?? p[j]) : (f.shape ?? p);
        this.map.set(o, { ...f, elem: f.elem || prior?.elem || 0, shape });
      } else if (!prior) this.map.set(o, { elem: 0 });
    });
  }
}
