/**
 * The torch-made SDXL fixture (test/fixtures/torch-sdxl/, made by make_folder.py): the folder's path and the
 * `inversion` block of reference.json — one SDXL textual-inversion step's inputs and torch's float64 outputs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const torchSdxlRoot = join(import.meta.dir, '..', 'fixtures', 'torch-sdxl');
export const torchSdxlFolder = join(torchSdxlRoot, 'folder');

/** A tensor as reference.json stores it. */
export interface Stored {
  dims: number[];
  data: number[];
}

export interface TorchSdxlInversion {
  placeholder_id: number;
  input_ids: number[][];
  input_ids_2: number[][];
  clip_l: Stored;
  clip_g: Stored;
  noisy_latents: Stored;
  target: Stored;
  timestep: number[];
  time_ids: Stored;
  prediction: Stored;
  loss: number;
  clip_l_grad: Stored;
  clip_g_grad: Stored;
}

export const torchSdxlInversion = JSON.parse(readFileSync(join(torchSdxlRoot, 'reference.json'), 'utf8'))
  .inversion as TorchSdxlInversion;
