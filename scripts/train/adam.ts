/**
 * Adam over one flat Float64Array of parameters: each trainer lays its tensors out in a single
 * buffer (views via subarray), so the optimiser, weight decay and clipping are written once.
 */
export class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;

  constructor(
    size: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  step(params: Float64Array, grads: Float64Array, learningRate: number): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i]!;
      const m = (this.m[i] = this.beta1 * this.m[i]! + (1 - this.beta1) * g);
      const v = (this.v[i] = this.beta2 * this.v[i]! + (1 - this.beta2) * g * g);
      params[i]! -= (learningRate * (m / c1)) / (Math.sqrt(v / c2) + this.eps);
    }
  }
}

/**
 * Scales `grads` down so that their L2 norm is at most `maxNorm`. Square activations make the loss
 * surface quartic and worse, so one unlucky batch can otherwise throw the weights far away.
 */
export function clipGradients(grads: Float64Array, maxNorm: number): void {
  let sq = 0;
  for (const g of grads) sq += g * g;
  const norm = Math.sqrt(sq);
  if (norm > maxNorm) {
    const f = maxNorm / norm;
    for (let i = 0; i < grads.length; i++) grads[i]! *= f;
  }
}

/** Cosine decay from `base` to `base * floor` over `total` steps: large steps early, fine ones at the end. */
export function cosineRate(base: number, step: number, total: number, floor = 0.02): number {
  const progress = Math.min(1, step / total);
  return base * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
