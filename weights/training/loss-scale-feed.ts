/**
 * The `loss_scale` feed of a float16 step graph (none for a float32 one, which has no such input): the scale
 * the loss is multiplied by before differentiation. Validation passes feed 1 (they read only the loss).
 */
import { tensor, type Tensor } from '../../common/tensor.ts';
import type { Session } from '../session.ts';
import { lossScaleInput } from './train-loss.ts';

/** Whether the step graph takes a loss scale (it was built from a float16 export). */
export const takesLossScale = (step: Session): boolean => step.inputs.some((i) => i.name === lossScaleInput);

export const lossScaleFeed = (step: Session, scale = 1): Record<string, Tensor> =>
  takesLossScale(step) ? { [lossScaleInput]: tensor('float32', [], Float32Array.of(scale)) } : {};
