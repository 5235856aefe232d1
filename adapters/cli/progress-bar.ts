/** A one-line progress bar on stderr (redrawn in place on a terminal, a line per 10 % otherwise). */
export const progressBar = (label: string) => {
  const tty = Boolean(process.stderr.isTTY);
  let lastDecile = -1;
  return {
    update(step: number, of: number, extra = '') {
      const frac = of ? step / of : 0;
      if (tty) {
        const w = 30;
        const fill = Math.round(frac * w);
        process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${step}/${of} ${extra}   `);
      } else if (Math.floor(frac * 10) > lastDecile) {
        lastDecile = Math.floor(frac * 10);
        process.stderr.write(`${label} ${step}/${of} ${extra}\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\n');
    },
  };
};
