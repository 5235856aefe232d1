/**
 * Polls for a condition a test cannot be told about (a state another process writes): `f`'s first defined value,
 * asked every 100 ms. A throw counts as "not yet" (a server still starting); past `ms` it fails naming `what`.
 * @example const s = await until('the run to finish', async () => ((await status()).done ? s : undefined));
 */
export const until = async <T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}`);
    await Bun.sleep(100);
  }
};
