/**
 * If: Y = then_branch() when cond, else else_branch(), both reading their operands x from the outer graph. On each
 * side of the condition Y is that branch, so x̄ = (∂branch/∂x)ᵀ·Ȳ for the branch taken: a backward If on the same
 * cond whose branches are the two branches' VJPs (each differentiated by the driver, subgraph-vjp.ts); an operand
 * the taken branch does not read gets 0. cond is boolean: no gradient. The driver sees the operands as this node's
 * inputs after cond (loop-captures.ts).
 */
import { attr } from '../../onnx/builder.ts';
import type { Graph, Node } from '../../onnx/proto.ts';
import { outerReads } from '../loop-captures.ts';
import type { Rule, VjpContext } from '../rule-context.ts';
import { graphVjp, renameInto } from '../subgraph-vjp.ts';

/** One branch's backward: a graph with no inputs whose outputs are the gradients of `wanted` (zeros if unread). */
const branchVjp = (c: VjpContext, branch: Graph, wanted: string[], zeros: string[]): Graph => {
  const reads = outerReads(branch);
  const wrt = wanted.filter((w) => reads.has(w));
  const outs = branch.outputs.flatMap((o, k) =>
    c.gy(k) ? [{ name: o.name, type: { elemType: c.elem(c.y(k)), shape: c.shape(c.y(k)) ?? null }, gy: c.gy(k)! }] : [],
  );
  const nodes: Node[] = [];
  const initializers: Graph['initializers'] = [];
  const grads = new Map<string, string>();
  if (wrt.length && outs.length) {
    const typed: Graph = {
      ...branch,
      inputs: wrt.map((w) => ({ name: w, type: { elemType: c.elem(w), shape: c.shape(w) ?? null }, unknown: [] })),
    };
    const v = graphVjp(c.differentiator(), typed, c.opset, outs, wrt);
    c.requireOpset(v.opset);
    // Inside the backward branch the operands and the cotangents are outer values, read by their own names.
    const bind = new Map<string, string>([
      ...wrt.map((w) => [w, w] as [string, string]),
      ...outs.map((o, k) => [v.cts[k], o.gy] as [string, string]),
    ]);
    const r = renameInto(v.graph, bind, (base) => c.fresh(base));
    nodes.push(...r.nodes);
    initializers.push(...r.initializers);
    wrt.forEach((w, k) => grads.set(w, r.at(v.grads[k])));
  }
  const outputs = wanted.map((w, k) => {
    const o = c.fresh(`${w}/branch_grad`);
    nodes.push({
      name: c.fresh(`${o}_node`),
      opType: 'Identity',
      domain: '',
      inputs: [grads.get(w) ?? zeros[k]],
      outputs: [o],
      attributes: [],
      unknown: [],
    });
    return { name: o, type: { elemType: c.elem(w), shape: null }, unknown: [] };
  });
  return { name: `${branch.name}_backward`, nodes, initializers, inputs: [], outputs, valueInfo: [], unknown: [] };
};

export const ifRule: Rule = (c) => {
  const wanted = c.node.inputs.slice(1).filter((_, k) => c.needs(k + 1));
  if (wanted.length === 0) return [];
  const zeros = wanted.map((w) => c.zerosLike(w));
  const [then, otherwise] = ['then_branch', 'else_branch'].map((b) => attr<Graph | undefined>(c.node, b, undefined)!);
  const res = c.emitN('If', [c.x(0)], wanted.length, {
    then_branch: branchVjp(c, then, wanted, zeros),
    else_branch: branchVjp(c, otherwise, wanted, zeros),
  });
  res.forEach((r, k) => c.sameElem(r, wanted[k]));
  const at = new Map(wanted.map((w, k) => [w, res[k]]));
  return c.node.inputs.map((x, k) => (k > 0 && c.needs(k) ? at.get(x) : undefined));
};
