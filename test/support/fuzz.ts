/**
 * A small seeded fuzzer for decoders of untrusted bytes: each case is a valid seed input with a few mutations
 * (bit flips, boundary bytes, truncations, insertions, huge length fields, duplicated or deleted runs), or purely
 * random bytes behind the format's magic number. Case `i` of target `t` is drawn from `createRng(seed).fork(t#i)`
 * alone, so a failure names everything needed to rebuild its input: the seed, the target and the index.
 */
import { PipelineError } from '../../common/errors.ts';
import { createRng, type Rng } from '../../common/numerics/rng.ts';

/** Byte values that sit on a boundary of a signed or unsigned field. */
const BOUNDARY = [0x00, 0xff, 0x7f, 0x80];
/** 32-bit words a length field may be set to: huge, sign-flipping, and just-too-big small values. */
const HUGE = [0xffffffff, 0x7fffffff, 0x80000000, 0x40000000, 0x0100_0000, 0xffff];

const splice = (b: Uint8Array, at: number, remove: number, insert: ArrayLike<number> = []): Uint8Array => {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at));
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
};

const randomBytes = (rng: Rng, n: number) => Uint8Array.from({ length: n }, () => rng.int(256));

/** One mutation of `b` (a fresh array; `b` is never written). */
const mutateOnce = (rng: Rng, b: Uint8Array): Uint8Array => {
  const at = rng.int(Math.max(1, b.length));
  const out = b.slice();
  switch (rng.int(8)) {
    case 0: // a bit flip
      if (out.length) out[at] ^= 1 << rng.int(8);
      return out;
    case 1: // a boundary byte
      if (out.length) out[at] = BOUNDARY[rng.int(BOUNDARY.length)];
      return out;
    case 2: // a huge 32-bit word, either byte order (lengths, offsets, counts)
      if (out.length >= 4) {
        const v = HUGE[rng.int(HUGE.length)];
        new DataView(out.buffer).setUint32(Math.min(at, out.length - 4), v, rng.int(2) === 0);
      }
      return out;
    case 3: // a truncation
      return b.subarray(0, at).slice();
    case 4: // random bytes inserted
      return splice(b, at, 0, randomBytes(rng, 1 + rng.int(16)));
    case 5: {
      // a run duplicated in place (a repeated chunk, entry or field)
      const n = 1 + rng.int(Math.min(64, Math.max(1, b.length - at)));
      return splice(b, at, 0, b.subarray(at, at + n));
    }
    case 6: // a run deleted
      return splice(b, at, Math.min(b.length - at, 1 + rng.int(16)));
    default: // a random byte
      if (out.length) out[at] = rng.int(256);
      return out;
  }
};

/** One to four mutations of `b`. */
export const mutate = (rng: Rng, b: Uint8Array): Uint8Array => {
  let out = b;
  for (let k = 1 + rng.int(4); k > 0; k--) out = mutateOnce(rng, out);
  return out;
};

/** How to make the inputs of one target. */
export interface FuzzTarget {
  /** Valid inputs to mutate. */
  seeds: readonly Uint8Array[];
  /** Magic numbers to put in front of purely random inputs, so they get past the first check. */
  magic?: readonly Uint8Array[];
  /** Turns a mutated input into one that passes a checksum (PNG's CRCs), applied to every other case. */
  fix?: (b: Uint8Array) => Uint8Array;
}

/** Input `i` of a target: every eighth purely random (behind a magic number), the rest mutated seeds. */
export const caseInput = (seed: number, name: string, i: number, t: FuzzTarget): Uint8Array => {
  const rng = createRng(seed).fork(`${name}#${i}`);
  if (i % 8 === 7) {
    const magic = t.magic?.length ? t.magic[rng.int(t.magic.length)] : new Uint8Array(0);
    return Uint8Array.from([...magic, ...randomBytes(rng, rng.int(512))]);
  }
  const mutated = mutate(rng, t.seeds[rng.int(t.seeds.length)]);
  return t.fix && i % 2 === 0 ? t.fix(mutated) : mutated;
};

/** What one input did: 'ok', a PipelineError code, or a failure (anything else) described in words. */
export const outcomeOf = async (decode: (b: Uint8Array) => unknown, input: Uint8Array): Promise<string> => {
  try {
    await decode(input);
    return 'ok';
  } catch (e) {
    if (e instanceof PipelineError && e.code !== 'internal') return e.code;
    const what = e instanceof PipelineError ? `PipelineError('internal')` : e instanceof Error ? e.name : typeof e;
    return `FAIL ${what}: ${e instanceof Error ? e.message : String(e)}`.slice(0, 300);
  }
};

/** Results of a run: how many inputs ended in each outcome, and the failures with how to reproduce them. */
export interface FuzzReport {
  outcomes: Record<string, number>;
  failures: string[];
  peakRss: number;
}

/**
 * Runs `cases` inputs of target `name` through `decode`, recording the outcome of each and the peak resident
 * memory (sampled after every case).
 */
export const fuzz = async (
  seed: number,
  name: string,
  cases: number,
  t: FuzzTarget,
  decode: (b: Uint8Array) => unknown,
): Promise<FuzzReport> => {
  const report: FuzzReport = { outcomes: {}, failures: [], peakRss: 0 };
  for (let i = 0; i < cases; i++) {
    const input = caseInput(seed, name, i, t);
    const outcome = await outcomeOf(decode, input);
    if (outcome.startsWith('FAIL')) {
      report.failures.push(`${name}: seed ${seed} case ${i} (${input.length} bytes): ${outcome.slice(5)}`);
      report.outcomes.FAIL = (report.outcomes.FAIL ?? 0) + 1;
    } else report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
    report.peakRss = Math.max(report.peakRss, process.memoryUsage().rss);
  }
  return report;
};
