/**
 * Which ops of a model have gradient rules: for `pseudoword inspect`, so a user sees before training whether a
 * model's ops can be differentiated (and which are simply gradient-free, like Shape or comparisons).
 */
import { topoOrder } from '../onnx/graph-walk.ts';
import type { Graph, Model, Node } from '../onnx/proto.ts';
import { opCensus } from '../onnx/op-census.ts';
import { ruleTable } from './rule-table.ts';

export interface RuleCoverage {
  /** Ops with a VJP rule. */
  rule: string[];
  /** Ops through which no gradient flows (integer/shape/comparison ops). */
  zero: string[];
  /** Ops with no rule (or marked unsupported) on a path to the outputs asked about: differentiating them fails. */
  missing: string[];
  /** Ops with no rule that none of the outputs asked about depend on: they are never differentiated. */
  offPath: string[];
}

const key = (domain: string, opType: string) =>
  domain === 'ai.onnx' || domain === '' ? opType : `${domain}::${opType}`;

/** A node's op and, conservatively, every op in its subgraphs (If, Loop, Scan): a body is not walked finer. */
const opsOf = (n: Node, into: Set<string>) => {
  into.add(key(n.domain, n.opType));
  const sub = (g: Graph) => {
    for (const m of g.nodes) opsOf(m, into);
  };
  for (const a of n.attributes) {
    if (a.g) sub(a.g);
    for (const g of a.graphs ?? []) sub(g);
  }
};

/** The ops of every node that one of `outputs` depends on (walking back from them through the graph). */
const opsUpstreamOf = (m: Model, outputs: readonly string[]): Set<string> => {
  const wanted = new Set(outputs);
  const ops = new Set<string>();
  const order = topoOrder(m.graph);
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k];
    if (!n.outputs.some((o) => wanted.has(o))) continue;
    opsOf(n, ops);
    for (const i of n.inputs) if (i) wanted.add(i);
  }
  return ops;
};

/**
 * The model's ops by gradient rule. With `of`, an op without a rule counts as `missing` only when one of those
 * outputs depends on a node of it (textual inversion differentiates the text encoder's `last_hidden_state`, not its
 * pooled output), else as `offPath`; without `of`, every output counts.
 * @example ruleCoverage(textEncoder, ['last_hidden_state']) // an op without a rule that only pooler_output reads: offPath
 */
export const ruleCoverage = (m: Model, of: readonly string[] = m.graph.outputs.map((o) => o.name)): RuleCoverage => {
  const upstream = opsUpstreamOf(m, of);
  const out: RuleCoverage = { rule: [], zero: [], missing: [], offPath: [] };
  for (const o of opCensus(m)) {
    const name = key(o.domain, o.opType);
    const e = o.domain === 'ai.onnx' ? ruleTable[o.opType] : undefined;
    if (typeof e === 'function') out.rule.push(name);
    else if (e === 'zero') out.zero.push(name);
    else (upstream.has(name) ? out.missing : out.offPath).push(name);
  }
  return out;
};
