import { join } from 'node:path';
import { describe, expect, test } from 'bun:test';
import * as ort from 'onnxruntime-node';
import { ortError, ortSessionFactory, ortSessionOptions } from './ort-session.ts';
import { PipelineError } from '../common/errors.ts';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { encodeModel } from '../weights/onnx/proto.ts';
import { tensor } from '../common/tensor.ts';
import { toHalf, fromHalf } from '../common/numerics/half.ts';

const doubler = (dtype: 'float16' | 'float32') => {
  const b = new GraphBuilder();
  const x = b.input('x', dtype, [3]);
  b.output(b.op('Add', [x, x]), dtype, [3], 'y');
  return encodeModel(b.toModel(17));
};

describe('the onnxruntime session adapter', () => {
  test('passes float16 tensors in and out as IEEE half bits', async () => {
    const s = await ortSessionFactory.create(doubler('float16'));
    const out = await s.run({ x: tensor('float16', [3], Uint16Array.from([0.5, -1.25, 3], toHalf)) });
    expect(out.y.dtype).toBe('float16');
    expect(Array.from(out.y.data as Uint16Array, fromHalf)).toEqual([1, -2.5, 6]);
  });

  test('fails with device_unavailable when the CUDA provider is not installed', async () => {
    const err = await ortSessionFactory.create(doubler('float32'), { device: 'cuda' }).catch((e) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err).toMatchObject({ code: 'device_unavailable' });
    expect(err.message).toContain('CUDA 12 build of onnxruntime');
    expect(err.message).toContain('--device cpu');
    expect(typeof err.details.cause).toBe('string');
  });

  test('names the op and node onnxruntime has no kernel for', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    b.output(b.op('GroupNorm', [x], {}, { domain: 'com.microsoft', name: 'unet/gn0' }), 'float32', [4], 'y');
    const bytes = encodeModel(b.toModel(17, [{ domain: 'com.microsoft', version: 1 }]));
    await expect(ortSessionFactory.create(bytes)).rejects.toThrow(/GroupNorm/);
  });
});

describe('the onnxruntime options', () => {
  test('turn off the CPU fallback for cuda when asked, and name only the CUDA provider', () => {
    const o = ortSessionOptions({ device: 'cuda', cpuFallback: 'refused' });
    expect(o.executionProviders).toEqual(['cuda']);
    expect(o.extra).toEqual({ session: { disable_cpu_ep_fallback: '1' } });
    // By default onnxruntime keeps its own placement (shape arithmetic on the CPU).
    expect(ortSessionOptions({ device: 'cuda' }).extra).toBeUndefined();
  });

  test('keep the CPU fallback switch out of cpu sessions', () => {
    expect(ortSessionOptions({}).extra).toBeUndefined();
    expect(ortSessionOptions({ device: 'cpu', lowMemory: true }).extra).toEqual({
      session: { disable_prepacking: '1' },
    });
  });

  test('drop pre-packed weights without dropping the arena when prepacking is off', () => {
    const o = ortSessionOptions({ device: 'cpu', prepacking: false });
    expect(o.extra).toEqual({ session: { disable_prepacking: '1' } });
    expect(o.enableCpuMemArena).toBeUndefined();
  });

  test('keep the arena in lean-memory mode while dropping pre-packed copies, arena-held initialisers and the memory pattern', () => {
    const o = ortSessionOptions({ device: 'cpu', leanMemory: true });
    expect(o.extra).toEqual({ session: { disable_prepacking: '1', use_device_allocator_for_initializers: '1' } });
    expect(o.enableMemPattern).toBe(false);
    expect(o.enableCpuMemArena).toBeUndefined();
    // Pre-packing kept on request, the rest of lean-memory mode unchanged.
    const packed = ortSessionOptions({ device: 'cpu', leanMemory: true, prepacking: true });
    expect(packed.extra).toEqual({ session: { use_device_allocator_for_initializers: '1' } });
    expect(packed.enableMemPattern).toBe(false);
  });

  test('save the optimised graph with its weights in a data file beside it, when asked', () => {
    const o = ortSessionOptions({ saveOptimizedTo: join('entry', 'model.onnx') });
    expect(o.optimizedModelFilePath).toBe(join('entry', 'model.onnx'));
    expect(o.extra).toEqual({
      session: {
        optimized_model_external_initializers_file_name: 'model.data',
        optimized_model_external_initializers_min_size_in_bytes: '1024',
      },
    });
    expect(ortSessionOptions({}).optimizedModelFilePath).toBeUndefined();
  });

  test('open and run a session in lean-memory mode (onnxruntime accepts every entry)', async () => {
    const s = await ortSessionFactory.create(doubler('float32'), { leanMemory: true });
    const out = await s.run({ x: tensor('float32', [3], Float32Array.of(1, 2, 3)) });
    expect(Array.from(out.y.data as Float32Array)).toEqual([2, 4, 6]);
  });

  test('merge the low-memory and no-fallback session entries', () => {
    const o = ortSessionOptions({
      device: 'cuda',
      lowMemory: true,
      threads: 2,
      optimization: 'basic',
      cpuFallback: 'refused',
    });
    expect(o).toMatchObject({ enableCpuMemArena: false, intraOpNumThreads: 2, graphOptimizationLevel: 'basic' });
    expect(o.extra).toEqual({ session: { disable_prepacking: '1', disable_cpu_ep_fallback: '1' } });
  });

  test('reach onnxruntime as the session.disable_cpu_ep_fallback entry', async () => {
    // With no provider named, every node lands on the CPU provider: the switch must make that an error.
    const opts = { ...ortSessionOptions({ device: 'cuda', cpuFallback: 'refused' }), executionProviders: [] };
    const err = await ort.InferenceSession.create(doubler('float32'), opts).catch((e) => e);
    expect(String(err?.message)).toContain('fallback to CPU EP has been explicitly disabled');
    expect(ortError(err, { phase: 'load', device: 'cuda' })).toMatchObject({ code: 'unsupported_op' });
  });
});

const realMessages = {
  // All captured from onnxruntime-node 1.30.0 on this project's tiny graphs.
  arenaOom:
    "Non-zero status code returned while running ConstantOfShape node. Name:'ConstantOfShape' Status Message: " +
    '/onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:360 void* onnxruntime::BFCArena::AllocateRawInternal(' +
    'size_t, bool, onnxruntime::Stream*) Failed to allocate memory for requested buffer of size 4503599627370496\n',
  wrongDim:
    'Got invalid dimensions for input: x for the following indices\n index: 0 Got: 4 Expected: 3\n Please fix ' +
    'either the inputs/outputs or the model.',
  wrongRank: 'Invalid rank for input: x Got: 2 Expected: 1 Please fix either the inputs/outputs or the model.',
  matmul:
    "Non-zero status code returned while running MatMul node. Name:'MatMul' Status Message: matmul_helper.h:59 " +
    'Compute MatMul dimension mismatch',
  reshape:
    "Non-zero status code returned while running Reshape node. Name:'Reshape' Status Message: /onnxruntime_src/" +
    'onnxruntime/core/providers/cpu/tensor/reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(const ' +
    'onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) input_shape_size == requested_shape_size was ' +
    'false. The input tensor cannot be reshaped to the requested shape. Input shape:{6}, requested shape:{4,2}\n',
  wrongDtype: 'Unexpected input data type. Actual: (tensor(int32)) , expected: (tensor(float))',
  garbage: 'Failed to load model because protobuf parsing failed.',
  dangling: "Invalid model. Node input 'ghost' is not a graph input, initializer, or output of a previous node.",
  staticShape: 'Node (bad_add) Op (Add) [ShapeInferenceError] Incompatible dimensions',
  noKernel: "Could not find an implementation for Selu(6) node with name 'blk/Selu'",
  noOp:
    'This is an invalid model. In Node, ("blk/Mish", Mish, "", -1) : ("x": tensor(double),) -> ("blk/Mish_out",) , ' +
    'Error No Op registered for Mish with domain_version of 17',
  noCudaLibrary: 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
  cpuFallbackRefused:
    'This session contains graph nodes that are assigned to the default CPU EP, but fallback to CPU EP has been ' +
    'explicitly disabled by the user.',
  missingFeed: "input 'x' is missing in 'feeds'.",
};

const handWritten = {
  // What the CUDA provider and the C++ runtime say when the GPU or host runs out (not reproducible here).
  cudaOom:
    "Non-zero status code returned while running Conv node. Name:'/down_blocks.0/resnets.0/conv1/Conv' Status " +
    'Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::BFCArena::' +
    'AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Failed to ' +
    'allocate memory for requested buffer of size 2147483648\n',
  cudaFailure:
    '/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_call.cc:123 std::conditional_t<THRW, void, common::Status> ' +
    'onnxruntime::CudaCall(ERRTYPE, const char*, const char*, SUCCTYPE, const char*, const char*, int) [with ERRTYPE ' +
    '= cudaError; bool THRW = true] CUDA failure 2: out of memory ; GPU=0 ; hostname=box ; file=/onnxruntime_src/' +
    'onnxruntime/core/providers/cuda/cuda_allocator.cc ; line=47 ; expr=cudaMalloc((void**)&p, size);',
  badAlloc: 'std::bad_alloc',
};

describe('onnxruntime errors', () => {
  const run = (raw: string, device: 'cpu' | 'cuda' = 'cpu') => ortError(new Error(raw), { phase: 'run', device });
  const load = (raw: string, device: 'cpu' | 'cuda' = 'cpu', model?: string) =>
    ortError(new Error(raw), { phase: 'load', device, ...(model ? { model } : {}) });

  test('an allocation failure becomes too_large naming the node, without allocator text', () => {
    for (const raw of [realMessages.arenaOom, handWritten.cudaOom]) {
      const e = run(raw, 'cuda');
      expect(e.code).toBe('too_large');
      expect(e.message).toMatch(/^the model ran out of memory at node '.+' \((ConstantOfShape|Conv)\) on the GPU; /);
      expect(e.message).toContain('lower the resolution or batch');
      expect(e.message).not.toMatch(/BFCArena|bfc_arena|onnxruntime_src|requested buffer/);
      expect(e.details?.cause).toContain('Failed to allocate memory');
    }
  });

  test('a CUDA out-of-memory or bad_alloc without a node still becomes too_large', () => {
    expect(run(handWritten.cudaFailure, 'cuda')).toMatchObject({
      code: 'too_large',
      message: 'the model ran out of memory while running on the GPU; lower the resolution or batch',
    });
    expect(load(handWritten.badAlloc)).toMatchObject({
      code: 'too_large',
      message: 'the model ran out of memory while loading; lower the resolution or batch',
    });
  });

  test('a CUDA out-of-memory while loading is too_large, not device_unavailable', () => {
    expect(load(handWritten.cudaFailure, 'cuda').code).toBe('too_large');
  });

  test('shape, rank and dtype clashes become shape_mismatch with the readable part of the message', () => {
    expect(run(realMessages.wrongDim)).toMatchObject({
      code: 'shape_mismatch',
      message:
        "tensor shapes or types do not fit at input 'x': Got invalid dimensions for input: x for the following " +
        'indices index: 0 Got: 4 Expected: 3',
    });
    expect(run(realMessages.wrongRank).code).toBe('shape_mismatch');
    expect(run(realMessages.wrongDtype).code).toBe('shape_mismatch');
    expect(run(realMessages.matmul)).toMatchObject({
      code: 'shape_mismatch',
      message: "tensor shapes or types do not fit at node 'MatMul' (MatMul): Compute MatMul dimension mismatch",
    });
    expect(run(realMessages.reshape)).toMatchObject({
      code: 'shape_mismatch',
      message:
        "tensor shapes or types do not fit at node 'Reshape' (Reshape): The input tensor cannot be reshaped to the " +
        'requested shape. Input shape:{6}, requested shape:{4,2}',
      details: { node: 'Reshape', op: 'Reshape' },
    });
    expect(load(realMessages.staticShape)).toMatchObject({ code: 'shape_mismatch', details: { node: 'bad_add' } });
  });

  test('an unreadable or inconsistent model becomes bad_model on load', () => {
    expect(load(realMessages.garbage, 'cpu', 'unet/model.onnx')).toMatchObject({
      code: 'bad_model',
      message:
        "onnxruntime could not load the model 'unet/model.onnx': Failed to load model because protobuf parsing failed.",
    });
    expect(load(realMessages.dangling).code).toBe('bad_model');
  });

  test('an op with no kernel or no schema becomes unsupported_op naming op and node', () => {
    expect(load(realMessages.noKernel)).toMatchObject({
      code: 'unsupported_op',
      message: "onnxruntime has no kernel for Selu (opset 6) in node 'blk/Selu'",
    });
    expect(load(realMessages.noOp)).toMatchObject({
      code: 'unsupported_op',
      message: "onnxruntime has no kernel for Mish in node 'blk/Mish'",
    });
  });

  test('a refused CPU fallback under cuda becomes unsupported_op pointing at --device cpu', () => {
    const e = load(realMessages.cpuFallbackRefused, 'cuda');
    expect(e.code).toBe('unsupported_op');
    expect(e.message).toContain('CUDA provider has no kernel');
    expect(e.message).toContain('--device cpu');
  });

  test('a missing CUDA library under cuda becomes device_unavailable with the install hint', () => {
    const e = load(realMessages.noCudaLibrary, 'cuda');
    expect(e.code).toBe('device_unavailable');
    expect(e.message).not.toContain('OrtSessionOptionsAppendExecutionProvider');
    expect(e.details?.cause).toBe(realMessages.noCudaLibrary);
  });

  test('anything else becomes internal with the first line only and the whole text in details.cause', () => {
    const e = run(`${realMessages.missingFeed}\nsecond line`);
    expect(e).toMatchObject({
      code: 'internal',
      message: "onnxruntime failed while running the model: input 'x' is missing in 'feeds'.",
    });
    expect(e.details?.cause).toContain('second line');
  });

  test('details.cause is trimmed to a few hundred characters', () => {
    expect(String(run(`odd failure ${'x'.repeat(5000)}`).details?.cause).length).toBeLessThanOrEqual(400);
  });

  test('a PipelineError passes through unchanged', () => {
    const e = new PipelineError('bad_model', 'kept');
    expect(ortError(e, { phase: 'run' })).toBe(e);
  });
});

describe('the session adapter reports real onnxruntime failures as typed errors', () => {
  test('a wrongly shaped feed is shape_mismatch naming the input', async () => {
    const s = await ortSessionFactory.create(doubler('float32'));
    const err = await s.run({ x: tensor('float32', [4], new Float32Array(4)) }).catch((e) => e);
    expect(err).toMatchObject({ code: 'shape_mismatch' });
    expect(err.message).toContain("input 'x'");
    expect(err.message).toContain('Got: 4 Expected: 3');
  });

  test('a kernel-time dimension clash is shape_mismatch naming the node', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 4]);
    const w = b.input('w', 'float32', ['k', 'm']);
    b.output(b.op('MatMul', [x, w], {}, { name: 'proj' }), 'float32', null, 'y');
    const s = await ortSessionFactory.create(encodeModel(b.toModel(17)));
    const err = await s
      .run({ x: tensor('float32', [2, 4], new Float32Array(8)), w: tensor('float32', [5, 3], new Float32Array(15)) })
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'shape_mismatch', details: { node: 'proj', op: 'MatMul' } });
  });

  test('an impossible allocation is too_large naming the node', async () => {
    const b = new GraphBuilder();
    const shape = b.input('shape', 'int64', [1]);
    b.output(b.op('ConstantOfShape', [shape], {}, { name: 'huge' }), 'float32', null, 'y');
    const s = await ortSessionFactory.create(encodeModel(b.toModel(17)));
    const err = await s.run({ shape: tensor('int64', [1], BigInt64Array.from([1n << 50n])) }).catch((e) => e);
    expect(err).toMatchObject({ code: 'too_large' });
    expect(err.message).toBe(
      "the model ran out of memory at node 'huge' (ConstantOfShape); lower the resolution or batch",
    );
  });

  test('garbage bytes are bad_model', async () => {
    const err = await ortSessionFactory.create(new Uint8Array([1, 2, 3, 4, 5, 0xff, 0xfe, 7, 8, 9])).catch((e) => e);
    expect(err).toMatchObject({ code: 'bad_model' });
    expect(err.message).toContain('protobuf parsing failed');
  });
});
