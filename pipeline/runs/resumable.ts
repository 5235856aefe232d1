/**
 * Which runs `POST /v1/runs/:id/resume` may start again: a training run (the only kind that checkpoints what it
 * learned) that stopped because its server or its environment did — interrupted by a restart, or failed with an
 * `internal` or `io` error — and whose request was kept. A run that finished, was cancelled on purpose, or failed
 * for a reason in its request (bad input, a NaN) would only do the same again.
 */
import type { RunStatus } from './run-status.ts';
import type { RunRecord } from './run-store.ts';

/** Failures of the machine rather than of the request: worth another try from the last checkpoint. */
const crashCodes = new Set(['internal', 'io']);

/**
 * Why the run cannot be resumed, or undefined when it can.
 * @example whyNotResumable({ ...status, kind: 'generate' }, record) // "it is a generate run; only training runs resume"
 */
export const whyNotResumable = (status: RunStatus, record: RunRecord | undefined): string | undefined => {
  if (status.kind !== 'train') return `it is a ${status.kind} run; only training runs resume`;
  switch (status.status) {
    case 'running':
      return 'it is still going';
    case 'done':
      return 'it finished';
    case 'cancelled':
      return 'it was cancelled; start a new run with resume: true and its out folder to go on';
    case 'failed':
      if (!crashCodes.has(status.error?.code ?? ''))
        return `it failed with '${status.error?.code}', which running it again would repeat`;
  }
  if (record?.request === undefined) return 'this server did not keep its request';
  return record.notResumable;
};
