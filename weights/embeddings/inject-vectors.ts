/**
 * Rewrites a text encoder so learned token vectors enter as a graph input. Ids below the table size V read the
 * frozen token-embedding table as before; ids ≥ V read row (id − V) of the new input `pseudoword_vectors`
 * [N, D]. Training differentiates with respect to that input only, so no gradient is ever formed for the
 * V×D table, and generation feeds loaded embeddings the same way without touching the model's weights.
 *
 *     new  = ids ≥ V
 *     e    = Where(new, Gather(vectors, Where(new, ids − V, 0)), Gather(table, Where(new, 0, ids)))
 *
 * `pseudoword_vectors` is float32 always; for a float16 table it is cast to float16 right after the input.
 */
import { PipelineError } from '../../common/errors.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { DataType, type Model, type Node } from '../onnx/proto.ts';

export const vectorsInput = 'pseudoword_vectors';

export interface InjectedTextEncoder {
  model: Model;
  /** Rows of the frozen table: the first id that reads `pseudoword_vectors`. */
  tableRows: number;
  /** Width of a token vector. */
  dim: number;
  /** Name of the table initializer (to read initial vectors from). */
  table: string;
}

const passThrough = new Set(['Cast', 'Identity', 'Reshape', 'Flatten', 'Unsqueeze', 'Squeeze']);

/** Does `value` come from the graph input `input` through shape-only or cast ops? */
const derivesFrom = (value: string, input: string, producer: Map<string, Node>): boolean => {
  for (let v = value, hops = 0; hops < 8; hops++) {
    if (v === input) return true;
    const n = producer.get(v);
    if (!n || !passThrough.has(n.opType)) return false;
    v = n.inputs[0];
  }
  return false;
};

/** Finds the token-embedding Gather (table initializer [V, D], indices from `input_ids`) and rewires it. */
export const injectVectors = (model: Model, idsInput = 'input_ids'): InjectedTextEncoder => {
  const g = model.graph;
  const producer = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  const ids = g.inputs.find((i) => i.name === idsInput)?.name ?? g.inputs[0]?.name;
  const gather = g.nodes.find(
    (n) =>
      n.opType === 'Gather' && inits.get(n.inputs[0])?.dims.length === 2 && derivesFrom(n.inputs[1], ids, producer),
  );
  if (!gather)
    throw new PipelineError(
      'bad_model',
      `the text encoder has no token-embedding Gather reading '${ids}' from a [vocab, dim] initializer; cannot inject learned vectors`,
    );
  if (g.inputs.some((i) => i.name === vectorsInput))
    throw new PipelineError('bad_model', `the text encoder already has an input '${vectorsInput}'`);
  const table = inits.get(gather.inputs[0])!;
  const [tableRows, dim] = table.dims;
  // Fresh arrays: the builder appends inputs and initializers, and the caller's model must stay as it was.
  const b = new GraphBuilder({
    ...g,
    nodes: [],
    inputs: [...g.inputs],
    initializers: [...g.initializers],
    outputs: [...g.outputs],
  });
  // The vectors enter in float32 whatever the table's type: trainers keep float32 master vectors, and a float16
  // export casts them at the graph input (so its gradient comes back in float32 too).
  const input = b.input(vectorsInput, 'float32', ['vectors', dim]);
  const vectors =
    table.dataType === DataType.FLOAT16
      ? b.op('Cast', [input], { to: DataType.FLOAT16 }, { name: 'pseudoword/vectors_to_float16' })
      : input;
  const out = gather.outputs[0];
  const idx = b.op('Cast', [gather.inputs[1]], { to: DataType.INT64 }, { name: 'pseudoword/ids' });
  const isNew = b.op(
    'GreaterOrEqual',
    [idx, b.constI64(tableRows, [], 'pseudoword/V')],
    {},
    { name: 'pseudoword/is_new' },
  );
  const zero = b.constI64(0, [], 'pseudoword/zero');
  const rowNew = b.op(
    'Where',
    [isNew, b.op('Sub', [idx, b.constI64(tableRows, [], 'pseudoword/V')]), zero],
    {},
    { name: 'pseudoword/row_new' },
  );
  const rowOld = b.op('Where', [isNew, zero, idx], {}, { name: 'pseudoword/row_old' });
  const fromTable = b.op('Gather', [table.name, rowOld], { axis: 0 }, { name: 'pseudoword/from_table' });
  const fromVectors = b.op('Gather', [vectors, rowNew], { axis: 0 }, { name: 'pseudoword/from_vectors' });
  const mask = b.op(
    'Unsqueeze',
    [isNew, b.constI64([-1], [1], 'pseudoword/last_axis')],
    {},
    { name: 'pseudoword/mask' },
  );
  b.op('Where', [mask, fromVectors, fromTable], {}, { name: 'pseudoword/embeddings', outputs: [out] });
  // Splice: the new nodes go where the old Gather was, so the topological order holds.
  const at = g.nodes.indexOf(gather);
  const nodes = [...g.nodes.slice(0, at), ...b.graph.nodes, ...g.nodes.slice(at + 1)];
  const graph = { ...b.graph, nodes };
  const opset = model.opsetImport.map((o) => (o.domain === '' && o.version < 13 ? { ...o, version: 13 } : o));
  return { model: { ...model, graph, opsetImport: opset }, tableRows, dim, table: table.name };
};
