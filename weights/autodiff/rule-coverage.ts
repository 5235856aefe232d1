/**
 * Which ops of a model have gradient rules: for `pseudoword inspect`, so a user sees before training whether a
 * model's ops can be differentiated (and which are simply gradient-free, like Shape or comparisons).
 */
import type { Model } from '../onnx/proto.ts';
import { opCensus } from '../onnx/op-census.ts';
import { ruleTable } from './rule-table.ts';

export interface RuleCoverage {
  /** Ops with a VJP rule. */
  rule: string[];
  /** Ops through which no gradient flows (integer/shape/comparison ops). */
  zero: string[];
  /** Ops with no rule (or marked unsupported): training fails if one lies on the path to the loss. */
  missing: string[];
}

export const ruleCoverage = (m: Model): RuleCoverage => {
  const out: RuleCoverage = { rule: [], zero: [], missing: [] };
  for (const o of opCensus(m)) {
    const name = o.domain === 'ai.onnx' ? o.opType : `${o.domain}::${o.opType}`;
    const e = o.domain === 'ai.onnx' ? ruleTable[o.opType] : undefined;
    (typeof e === 'function' ? out.rule : e === 'zero' ? out.zero : out.missing).push(name);
  }
  return out;
};
