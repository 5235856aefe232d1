/**
 * P+ training runs the text encoder once per cross-attention layer, batched: the prompt's ids [B, S] are tiled to
 * [L·B, S] (layer-major), and in copy l every placeholder id V + j becomes V + l·N + j, so copy l reads layer l's
 * rows of `pseudoword_vectors` [L·N, D]. Prepended to an injected text encoder (see inject-vectors.ts):
 *
 *   isNew = Cast(ids > V − 1);   ids_l = ids + isNew · (l·N);   ids' = Concat(ids_0 … ids_{L−1}, axis 0)
 *
 * Everything here is integer arithmetic on ids: no gradient flows through it, only through the vectors it selects.
 */
import { GraphBuilder } from '../onnx/builder.ts';
import type { Model } from '../onnx/proto.ts';
import { tensor } from '../../common/tensor.ts';

export const tileIdsPerLayer = (
  textEncoder: Model,
  o: { tableRows: number; vectors: number; layers: number; idsInput?: string },
): Model => {
  const idsName = o.idsInput ?? 'input_ids';
  const inner = `${idsName}/per_layer`;
  const g = {
    ...textEncoder.graph,
    nodes: textEncoder.graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map((x) => (x === idsName ? inner : x)) })),
    initializers: [...textEncoder.graph.initializers],
  };
  const idsInfo = g.inputs.find((i) => i.name === idsName);
  const int64 = idsInfo?.type?.elemType !== 6;
  const b = new GraphBuilder(g); // reserves the encoder's names; the new nodes move to the front below
  const existing = g.nodes.length;
  const constInt = (v: number, base: string) =>
    b.initializer(
      base,
      int64 ? tensor('int64', [], BigInt64Array.of(BigInt(v))) : tensor('int32', [], Int32Array.of(v)),
    );
  const isNew = b.op('Cast', [b.op('Greater', [idsName, constInt(o.tableRows - 1, 'p_plus/v')])], {
    to: int64 ? 7 : 6,
  });
  const copies = Array.from({ length: o.layers }, (_, l) =>
    l === 0 ? idsName : b.op('Add', [idsName, b.op('Mul', [isNew, constInt(l * o.vectors, 'p_plus/offset')])]),
  );
  b.op('Concat', copies, { axis: 0 }, { name: 'p_plus/tile_ids', outputs: [inner] });
  const prelude = b.graph.nodes.splice(existing);
  return { ...textEncoder, graph: { ...b.graph, nodes: [...prelude, ...b.graph.nodes] } };
};
