/**
 * Which ops a model uses, how often, and whether onnxruntime's CPU build can run them. Olive-optimised Stable
 * Diffusion exports use fused com.microsoft ops that only have CUDA/DirectML kernels; we name them up front
 * rather than let a session fail with a bare "could not find an implementation".
 */
import type { Graph, Model } from './proto.ts';

/** com.microsoft contrib ops with no CPU kernel in onnxruntime 1.30 (CUDA/ROCm/DML only). */
export const gpuOnlyContribOps = new Set([
  'GroupNorm',
  'SkipGroupNorm',
  'NhwcConv',
  'BiasSplitGelu',
  'BiasAdd',
  'PackedAttention',
  'PackedMultiHeadAttention',
  'DecoderMaskedMultiHeadAttention',
  'DecoderMaskedSelfAttention',
  'GemmFloat8',
  'GatedRelativePositionBias',
]);

export interface OpCount {
  domain: string;
  opType: string;
  count: number;
  firstNode: string;
  /** false when onnxruntime's CPU build has no kernel for it. */
  cpu: boolean;
}

const walk = (g: Graph, visit: (domain: string, opType: string, name: string) => void) => {
  for (const n of g.nodes) {
    visit(n.domain || 'ai.onnx', n.opType, n.name);
    for (const a of n.attributes) {
      if (a.g) walk(a.g, visit);
      for (const sub of a.graphs ?? []) walk(sub, visit);
    }
  }
};

/** Counts ops per (domain, op type), subgraphs included, most frequent first. */
export const opCensus = (m: Model): OpCount[] => {
  const counts = new Map<string, OpCount>();
  walk(m.graph, (domain, opType, name) => {
    const key = `${domain}.${opType}`;
    const c = counts.get(key);
    if (c) c.count++;
    else
      counts.set(key, {
        domain,
        opType,
        count: 1,
        firstNode: name,
        cpu: !(domain === 'com.microsoft' && gpuOnlyContribOps.has(opType)),
      });
  });
  return [...counts.values()].sort((a, b) => b.count - a.count || a.opType.localeCompare(b.opType));
};
