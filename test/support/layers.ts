/**
 * The layers, top to bottom, and what each may import: the one statement of the project's dependency direction
 * (README, Architecture). A file belongs to the layer of its top-level folder. Tests, benchmarks and examples sit
 * above every layer: they may import anything, and nothing may import them.
 */
export const layers = [
  { layer: 'adapters', folders: ['adapters', 'bin'], may: ['pipeline', 'stages', 'weights', 'common'] },
  { layer: 'pipeline', folders: ['pipeline'], may: ['stages', 'weights', 'common'] },
  { layer: 'stages', folders: ['stages'], may: ['weights', 'common'] },
  { layer: 'weights', folders: ['weights'], may: ['common'] },
  { layer: 'common', folders: ['common'], may: [] },
] as const;

/** Folders above every layer: they may import anything, and nothing may import them. */
export const outside = ['bench', 'test', 'examples'];

/** Every layer but the runtime adapters: Web-standard APIs only. */
export const coreFolders = layers.filter((l) => l.layer !== 'adapters').flatMap((l) => l.folders);
