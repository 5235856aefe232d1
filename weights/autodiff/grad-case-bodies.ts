/**
 * Subgraph bodies for the Loop and Scan rows of the finite-difference table (grad-cases.ts): small recurrences
 * whose every step mixes the state with a per-step value, so a wrong step order or a missed step shows.
 */
import { DataType, type Dim, type Graph, type Node } from '../onnx/proto.ts';
import { attribute, type AttrValue } from '../onnx/builder.ts';

type Io = [name: string, elem: number, dims: Dim[] | null];
type Step = [op: string, inputs: string[], output: string, attrs?: Record<string, AttrValue>];

/** A body graph from its typed inputs, its nodes (one output each) and its typed outputs. */
const body = (inputs: Io[], steps: Step[], outputs: Io[]): Graph => ({
  name: 'body',
  nodes: steps.map(
    ([op, ins, out, attrs = {}]): Node => ({
      name: out,
      opType: op,
      domain: '',
      inputs: ins,
      outputs: [out],
      attributes: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      unknown: [],
    }),
  ),
  initializers: [],
  inputs: inputs.map(([name, elemType, shape]) => ({ name, type: { elemType, shape }, unknown: [] })),
  outputs: outputs.map(([name, elemType, shape]) => ({ name, type: { elemType, shape }, unknown: [] })),
  valueInfo: [],
  unknown: [],
});
const F = DataType.FLOAT;

/** Loop body: yₜ₊₁ = sin(yₜ)·w, w carried unchanged, per step zₜ = yₜ₊₁·t (the iteration number as a float). */
export const loopBody = body(
  [
    ['iter', DataType.INT64, []],
    ['cond_in', DataType.BOOL, []],
    ['y_in', F, [2]],
    ['w_in', F, [2]],
  ],
  [
    ['Identity', ['cond_in'], 'cond_out'],
    ['Sin', ['y_in'], 'sin_y'],
    ['Mul', ['sin_y', 'w_in'], 'y_out'],
    ['Identity', ['w_in'], 'w_out'],
    ['Cast', ['iter'], 'iter_f', { to: F }],
    ['Mul', ['y_out', 'iter_f'], 'z'],
  ],
  [
    ['cond_out', DataType.BOOL, []],
    ['y_out', F, [2]],
    ['w_out', F, [2]],
    ['z', F, [2]],
  ],
);

/** Scan body: sₜ₊₁ = tanh(sₜ + xₜ), per step zₜ = sₜ₊₁·xₜ. */
export const scanBody = body(
  [
    ['s_in', F, [2]],
    ['x_in', F, [2]],
  ],
  [
    ['Add', ['s_in', 'x_in'], 'pre'],
    ['Tanh', ['pre'], 's_out'],
    ['Mul', ['s_out', 'x_in'], 'z'],
  ],
  [
    ['s_out', F, [2]],
    ['z', F, [2]],
  ],
);

/** If branches reading x1 and x2 from outside: then y = sin(x1)·x2, else y = x1·x1 (x2 unread). */
export const ifThen = body(
  [],
  [
    ['Sin', ['x1'], 'sin_x1'],
    ['Mul', ['sin_x1', 'x2'], 'then_y'],
  ],
  [['then_y', F, [2, 3]]],
);
export const ifElse = body([], [['Mul', ['x1', 'x1'], 'else_y']], [['else_y', F, [2, 3]]]);

/** Scan body without states: per step zₜ = sin(xₜ)·xₜ. */
export const statelessScanBody = body(
  [['x_in', F, [2]]],
  [
    ['Sin', ['x_in'], 'sin_x'],
    ['Mul', ['sin_x', 'x_in'], 'z'],
  ],
  [['z', F, [2]]],
);
