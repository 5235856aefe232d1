/**
 * Ctrl-C (SIGINT) and SIGTERM as a stop request for a long run: the first asks it to stop cleanly (the run
 * saves where it is), a second quits at once for a user who will not wait.
 */

export interface SignalStop {
  /** Aborted by the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** The exit status a shell expects after that signal (128 + its number), or undefined if none came. */
  exitCode(): number | undefined;
  /** Stops listening: the process's default handling comes back. */
  dispose(): void;
}

const numbers = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * @example
 * const stop = stopOnSignals(log);
 * await lastValueFrom(runTrain(request, deps, undefined, { signal: stop.signal }));
 * stop.dispose();
 */
export const stopOnSignals = (log: (m: string) => void): SignalStop => {
  const controller = new AbortController();
  let received: keyof typeof numbers | undefined;
  const on = (sig: keyof typeof numbers) => {
    if (received) {
      log(`\n${sig} again: quitting without saving`);
      process.exit(128 + numbers[sig]);
    }
    received = sig;
    log(`\n${sig}: stopping after the step in progress to save it (again to quit without saving)`);
    controller.abort();
  };
  const names = Object.keys(numbers) as (keyof typeof numbers)[];
  for (const n of names) process.on(n, on);
  return {
    signal: controller.signal,
    exitCode: () => (received ? 128 + numbers[received] : undefined),
    dispose: () => {
      for (const n of names) process.off(n, on);
    },
  };
};
