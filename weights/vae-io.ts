/**
 * Running the VAE halves with whatever names and dtypes the export chose: decoder `latent_sample` → `sample`,
 * encoder `sample` → `latent_parameters` (mean ‖ logvar) or, from older exporters, `latent_sample`.
 */
import { floatArray } from '../common/numerics/half.ts';
import type { Session } from './session.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import { asInputDtype } from './unet-io.ts';

const f32 = (t: Tensor): Tensor<'float32'> =>
  t.dtype === 'float16' ? tensor('float32', t.dims, floatArray(t.data as Uint16Array)) : (t as Tensor<'float32'>);

/** z (already divided by the scaling factor) → image in [-1, 1], [B,3,H,W]. */
export const runVaeDecoder = async (s: Session, z: Tensor<'float32'>): Promise<Tensor<'float32'>> => {
  const input = s.inputs.find((i) => i.name === 'latent_sample') ?? s.inputs[0];
  const out = s.outputs.find((o) => o.name === 'sample')?.name ?? s.outputs[0].name;
  return f32((await s.run({ [input.name]: asInputDtype(z, input) }, [out]))[out]);
};

/** Image in [-1, 1] → the encoder's raw output and which kind it is. */
export const runVaeEncoder = async (
  s: Session,
  x: Tensor<'float32'>,
): Promise<{ kind: 'parameters' | 'sample'; value: Tensor<'float32'> }> => {
  const input = s.inputs.find((i) => i.name === 'sample') ?? s.inputs[0];
  const params = s.outputs.find((o) => o.name === 'latent_parameters' || o.name === 'latent_dist');
  const out = params?.name ?? s.outputs.find((o) => o.name === 'latent_sample')?.name ?? s.outputs[0].name;
  const value = f32((await s.run({ [input.name]: asInputDtype(x, input) }, [out]))[out]);
  return { kind: params ? 'parameters' : 'sample', value };
};

/** [-1,1] CHW float image (first of batch) → RGBA8. */
export const toRgba = (
  img: Tensor<'float32'>,
  index = 0,
): { width: number; height: number; data: Uint8ClampedArray } => {
  const [, c, h, w] = img.dims;
  const plane = h * w;
  const base = index * c * plane;
  const data = new Uint8ClampedArray(plane * 4);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++)
      data[i * 4 + k] = Math.round(
        (Math.min(1, Math.max(-1, img.data[base + Math.min(k, c - 1) * plane + i])) + 1) * 127.5,
      );
    data[i * 4 + 3] = 255;
  }
  return { width: w, height: h, data };
};
