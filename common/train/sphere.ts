/**
 * Optimisation on a sphere, for directional textual inversion (DTI, Kim et al. 2025): each learned vector is
 * e = m·v with the magnitude m fixed and v on the unit sphere, so only its direction is learned. A Riemannian step
 * is: project the Euclidean gradient g onto the tangent space at x (remove its radial part), step, and retract the
 * result back onto the sphere of radius m (renormalise). Rows are `dim` wide, row-major; sums run in float64.
 */

/**
 * g ← g − (g·x̂) x̂ per row: the tangent-space part of the gradient at x. The radial part would only change the
 * norm, which the retraction undoes, so leaving it in would make the optimizer's moments chase a direction that
 * is thrown away every step.
 */
export const projectTangent = (grad: Float32Array, x: ArrayLike<number>, dim: number): Float32Array => {
  for (let r = 0; r * dim < grad.length; r++) {
    let gx = 0;
    let xx = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) (gx += grad[i] * x[i]), (xx += x[i] * x[i]);
    if (xx === 0) continue; // no direction to be tangent to
    const k = gx / xx; // (g·x)/|x|² = (g·x̂)/|x|
    for (let i = r * dim; i < (r + 1) * dim; i++) grad[i] -= k * x[i];
  }
  return grad;
};

/** x ← m_r · x/|x| per row r: the retraction onto the sphere of radius `radius[r]` (a zero row is left as it is). */
export const retractToSphere = (x: Float32Array, radius: ArrayLike<number>, dim: number): Float32Array => {
  for (let r = 0; r * dim < x.length; r++) {
    let xx = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) xx += x[i] * x[i];
    if (xx === 0) continue;
    const k = radius[r] / Math.sqrt(xx);
    for (let i = r * dim; i < (r + 1) * dim; i++) x[i] *= k;
  }
  return x;
};

/** The mean L2 norm of `rows` rows of width `dim` read through `row(i)`: the vocabulary's typical magnitude. */
export const meanRowNorm = (rows: number, dim: number, row: (i: number) => ArrayLike<number>): number => {
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const v = row(i);
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[j] * v[j];
    total += Math.sqrt(s);
  }
  return total / rows;
};
