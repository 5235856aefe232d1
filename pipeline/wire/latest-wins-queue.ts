/**
 * The pending-frame queue between a run (which pushes at its own pace) and a consumer (which pulls at its own).
 * Droppable frames — latent, preview, progress — keep only the newest pending one per (type, kind); records
 * (loss, image, validation, checkpoint, done, error) are always kept, so the queue's length is bounded by the
 * number of droppable keys plus the records the consumer has not yet taken.
 */
import { isDroppable, type Frame } from '../../common/frames.ts';

/** A FIFO of frames where a newer droppable frame replaces the older pending one with the same key. */
export interface LatestWinsQueue {
  /** Adds a frame at the end, first removing a pending droppable frame with the same key. */
  push(frame: Frame): void;
  /** Takes the oldest pending frame, or undefined when none is pending. */
  shift(): Frame | undefined;
  /** Forgets everything pending (the consumer went away). */
  clear(): void;
  /** How many frames are pending. */
  readonly size: number;
  /** How many droppable frames were replaced by newer ones so far. */
  readonly dropped: number;
}

/** The key under which droppable frames replace each other: previews of different kinds do not. */
export const dropKeyOf = (f: Frame): string | undefined =>
  !isDroppable(f) ? undefined : f.type === 'preview' ? `preview:${f.kind}` : f.type;

/**
 * A new, empty latest-wins queue.
 * @example
 * const q = latestWinsQueue();
 * q.push(preview1); q.push(loss1); q.push(preview2);
 * q.shift(); // loss1 — preview1 was replaced, and preview2 comes after loss1 so order between steps is kept
 */
export const latestWinsQueue = (): LatestWinsQueue => {
  let pending: Frame[] = [];
  let dropped = 0;
  return {
    push(frame) {
      const key = dropKeyOf(frame);
      if (key !== undefined) {
        // The replacement goes to the back, not into the old slot: a step-4 preview must not overtake the step-3
        // loss that was already waiting.
        const i = pending.findIndex((p) => dropKeyOf(p) === key);
        if (i >= 0) {
          pending.splice(i, 1);
          dropped++;
        }
      }
      pending.push(frame);
    },
    shift: () => pending.shift(),
    clear() {
      pending = [];
    },
    get size() {
      return pending.length;
    },
    get dropped() {
      return dropped;
    },
  };
};
