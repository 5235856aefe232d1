/**
 * Runs a command in-process with what it writes to stdout and stderr captured instead of printed, so a test of a
 * command that prints tables or progress keeps `bun test`'s output to test results (and can check the text).
 */

export interface Captured<T> {
  result: T;
  out: string;
  err: string;
}

const text = (chunk: unknown) => (typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk as Uint8Array));

/**
 * @example const { out } = await captureOutput(() => evalCommand(['--drawing', …])); expect(out).toContain('chance');
 */
export const captureOutput = async <T>(f: () => Promise<T>): Promise<Captured<T>> => {
  const out: string[] = [];
  const err: string[] = [];
  const { stdout, stderr } = process;
  const writes = [stdout.write, stderr.write] as const;
  stdout.write = ((chunk: unknown) => out.push(text(chunk)) > 0) as typeof stdout.write;
  stderr.write = ((chunk: unknown) => err.push(text(chunk)) > 0) as typeof stderr.write;
  try {
    const result = await f();
    return { result, out: out.join(''), err: err.join('') };
  } finally {
    [stdout.write, stderr.write] = writes;
  }
};
