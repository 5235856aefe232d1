/**
 * Where a run is, as people read it: the phase in words, the main counter (denoising steps of a generation,
 * optimizer steps of a training run — a validation's own denoising never takes the counter over), the share done,
 * a steady speed and the time left. Pure: frames in, a read-out out, so it is tested without a browser.
 *
 * The speed comes from the server's own clock (`elapsedMs` of the main phase's progress frames) between the first
 * and the newest frame this page saw, so model loading is never counted and frames replayed in one burst after a
 * re-attach do not make a run look fast.
 */

/** @typedef {'generate' | 'train'} RunKind */
/**
 * @typedef {object} ProgressFrameLike
 * @property {string} type
 * @property {string} [phase]
 * @property {number} [step]
 * @property {number} [of]
 * @property {number} [elapsedMs]
 * @property {number} [itPerSec]
 * @property {string} [code]
 */
/**
 * @typedef {object} Reading
 * @property {string} phase the phase's key: starting, load, denoise, train, validate, save, decode, done, error
 * @property {string} text the phase in words, with the sub-counter of a validation
 * @property {number} step the main counter
 * @property {number | undefined} of its total, when known
 * @property {number | undefined} percent 0..100 of the main counter
 * @property {number | undefined} rate steps per second, loading excluded
 * @property {number | undefined} etaS seconds left at that rate
 */

/** What each phase is called on the page. */
const words = {
  starting: 'starting',
  queued: 'waiting for a free slot',
  load: 'loading the model',
  encode: 'encoding the training images',
  denoise: 'denoising',
  train: 'training',
  validate: 'validating',
  save: 'saving a checkpoint',
  decode: 'decoding the image',
  done: 'finished',
  error: 'stopped',
};

/**
 * A tracker for one run.
 * @param {RunKind} kind
 * @param {number} [of] the run's total when the caller knows it (a listed run whose replay lost the first frame)
 * @example const p = progressTracker('generate'); p.frame({ type: 'progress', phase: 'denoise', step: 2, of: 8,
 * elapsedMs: 900 }); p.read().text // 'denoising'
 */
export const progressTracker = (kind, of) => {
  const main = kind === 'generate' ? 'denoise' : 'train';
  /** @type {Reading} */
  const r = { phase: 'starting', text: words.starting, step: 0, of, percent: undefined, rate: undefined, etaS: 0 };
  /** @type {{ step: number, ms: number } | undefined} */
  let first;
  /** @type {number | undefined} the server's own rate, used until two frames give ours */
  let serverRate;
  const setPhase = (/** @type {keyof typeof words} */ p, extra = '') => {
    r.phase = p;
    // A training run's set-up reads and encodes its images as well; the server sends one 'load' for both.
    r.text = (kind === 'train' && p === 'load' ? 'loading the model and encoding the images' : words[p]) + extra;
  };
  const count = (/** @type {number} */ step, /** @type {number | undefined} */ total = undefined) => {
    r.step = step;
    if (total) r.of = total;
  };
  const sample = (/** @type {ProgressFrameLike} */ f) => {
    const ms = f.elapsedMs ?? 0;
    const step = f.step ?? 0;
    // A clock that went back is a resumed (or restarted) run: measure from here.
    if (!first || ms < first.ms || step < first.step) first = { step, ms };
    // Training's own rate already starts at its first step; a generation's counts the model loading.
    if (kind === 'train' && f.itPerSec) serverRate = f.itPerSec;
    const dStep = step - first.step;
    const dMs = ms - first.ms;
    if (dStep > 0 && dMs > 0) serverRate = undefined;
    return dStep > 0 && dMs > 0 ? (dStep * 1000) / dMs : serverRate;
  };
  return {
    /** Takes one frame of the run. */
    frame(/** @type {ProgressFrameLike} */ f) {
      if (f.type === 'progress') {
        if (f.phase === main) {
          count(f.step ?? 0, f.of);
          r.rate = sample(f);
          setPhase(main);
        } else if (f.phase === 'validate') setPhase('validate', ` (denoising ${f.step}/${f.of})`);
        else if (f.phase && f.phase in words) setPhase(/** @type {keyof typeof words} */ (f.phase));
        else if (f.phase) (r.phase = f.phase), (r.text = f.phase);
        if (f.phase === 'load') count(f.step ?? 0, f.of);
      } else if (f.type === 'loss' && kind === 'train') {
        count(f.step ?? 0);
        if (r.phase !== 'train') setPhase('train');
        // The run's last step is followed by its last checkpoint: say so rather than look stuck at 100 %.
        if (r.of && r.step >= r.of) setPhase('save');
      } else if (f.type === 'checkpoint') {
        if (r.of && r.step >= r.of) setPhase('save');
      } else if (f.type === 'image') setPhase('decode');
      else if (f.type === 'done') {
        if (r.of) r.step = Math.max(r.step, r.of);
        setPhase('done');
      } else if (f.type === 'error') setPhase('error', f.code ? ` (${f.code})` : '');
      r.percent = r.of ? Math.min(100, (100 * r.step) / r.of) : undefined;
      r.etaS = r.rate && r.of ? Math.max(0, (r.of - r.step) / r.rate) : undefined;
      if (r.phase === 'done') r.etaS = 0;
    },
    /** @returns {Reading} a copy of the read-out now */
    read: () => ({ ...r }),
    /** Forgets the speed samples (a replay starts again from the run's first record). */
    restart() {
      first = undefined;
      serverRate = undefined;
    },
  };
};

/**
 * Seconds as people read a duration.
 * @example duration(75) // '1:15'
 * @example duration(3725) // '1:02:05'
 */
export const duration = (/** @type {number | undefined} */ s) => {
  if (s == null || !Number.isFinite(s)) return '–';
  const t = Math.round(s);
  const hh = Math.floor(t / 3600);
  const mm = Math.floor((t % 3600) / 60);
  const ss = String(t % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
};

/**
 * The counter: the main phase's name and steps (a training run's, never its validation's).
 * @param {RunKind} kind
 * @param {Pick<Reading, 'step' | 'of'>} r
 * @example counterText('train', { step: 60, of: 60 }) // 'train 60/60'
 */
export const counterText = (kind, r) => {
  const name = kind === 'generate' ? 'denoise' : 'train';
  if (!r.of) return r.step ? `${name} ${r.step}` : '';
  return `${name} ${r.step}/${r.of}`;
};
