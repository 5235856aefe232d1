/**
 * The project's own tensor: plain typed data plus dims, independent of any runtime. Adapters convert it to and
 * from onnxruntime tensors; stages and the autodiff speak only this.
 */
export type DType = 'float32' | 'float16' | 'int32' | 'int64' | 'uint8' | 'int8' | 'bool' | 'float64';

export type TensorData = {
  float32: Float32Array;
  float16: Uint16Array; // raw IEEE half bits
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  int8: Int8Array;
  bool: Uint8Array;
  float64: Float64Array;
};

export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly dims: readonly number[];
  readonly data: TensorData[D];
}

export const sizeOf = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Builds a tensor, checking that the data length fits the dims. */
export const tensor = <D extends DType>(dtype: D, dims: readonly number[], data: TensorData[D]): Tensor<D> => {
  if (data.length !== sizeOf(dims)) {
    throw new RangeError(`tensor data has ${data.length} elements, dims [${dims.join(',')}] need ${sizeOf(dims)}`);
  }
  return { dtype, dims: [...dims], data };
};

export const float32 = (dims: readonly number[], data?: ArrayLike<number>): Tensor<'float32'> =>
  tensor('float32', dims, data ? Float32Array.from(data) : new Float32Array(sizeOf(dims)));
