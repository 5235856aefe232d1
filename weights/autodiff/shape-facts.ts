/**
 * The vocabulary of shape inference: what is known about one value, and the signature of one op's rule. Kept apart
 * from the inference driver (`shape-infer.ts`) so the rule tables and the driver import it without importing each
 * other.
 */
import type { Dim, Node } from '../onnx/proto.ts';

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

/** Numbers of a value when all of it is known and numeric. */
export const numbersOf = (f: Facts | undefined): number[] | undefined =>
  f?.value?.every((v) => typeof v === 'number') ? (f.value as number[]) : undefined;
