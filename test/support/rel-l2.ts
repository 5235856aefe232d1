/**
 * The relative L2 error ‖a − b‖ / ‖b‖ of `a` against a reference `b`, the measure the PyTorch-fixture tests state
 * their tolerances in.
 * @example expect(relL2(ours, torch)).toBeLessThanOrEqual(1e-5);
 */
export const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`relL2: lengths ${a.length} and ${b.length} differ`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
};
