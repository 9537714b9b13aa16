// Calibration: one node-seal rotation and one multiply_plain at mnist-cnn's top level, timed in
// the same run as the benchmark, so that every figure can also be read as a multiple of them and
// runs on different machines compare (CPU models of these machines differ by up to 1.9×).
import type { Ciphertext, GaloisKeys, Plaintext } from 'node-seal';
import { HeContext, compile, free, loadSeal } from '../../he-core/index.js';
import type { ModelFile } from '../../he-core/index.js';
import { primeAt } from '../../he-core/params/parameters.js';
import type { Deletable } from '../../he-core/seal/scope.js';
import { median } from './stats.js';

export interface CalibrationSample {
  /** Median ms of one rotation by one slot (Galois key for step 1) at the top level. */
  rotateMs: number;
  /** Median ms of one multiply_plain (a full-vector plaintext in NTT form) at the top level. */
  multiplyPlainMs: number;
}

export interface Calibration extends CalibrationSample {
  model: string;
  polyModulusDegree: number;
  level: number;
  /** Samples per operation at each end of the run. */
  runs: number;
  /** The medians at the start and at the end of the run (the machine is shared: they differ). */
  start: CalibrationSample;
  end: CalibrationSample;
}

/** A reusable timer of the two operations on the model's single-mode parameters (its own SEAL objects; `dispose` frees them). */
export class CalibrationRig {
  private constructor(
    private readonly ctx: HeContext,
    private readonly objects: Deletable[],
    private readonly x: Ciphertext,
    private readonly pt: Plaintext,
    private readonly galois: GaloisKeys,
    readonly model: string,
  ) {}

  static async create(model: ModelFile): Promise<CalibrationRig> {
    const rt = await loadSeal();
    const plan = compile(rt.seal, model, { mode: 'single' });
    const ctx = HeContext.create(rt, plan.public.params);
    const { seal } = rt;
    const keygen = new seal.KeyGenerator(ctx.context);
    const secret = keygen.secretKey();
    const objects: Deletable[] = [keygen, secret];
    try {
      const galois = keygen.createGaloisKeysWithSteps(Int32Array.from([1]));
      objects.push(galois);
      const pub = keygen.createPublicKey();
      objects.push(pub);
      const encryptor = new seal.Encryptor(ctx.context, pub, secret);
      objects.push(encryptor);
      const values = Float64Array.from({ length: ctx.slots }, (_, i) => Math.sin(i));
      const scale = primeAt(ctx.params, ctx.topLevel);
      const plain = new seal.Plaintext();
      objects.push(plain);
      ctx.encoder.encode(values, scale, plain);
      const x = new seal.Ciphertext();
      objects.push(x);
      encryptor.encryptSymmetric(plain, x);
      const weights = new seal.Plaintext();
      objects.push(weights);
      ctx.encoder.encode(values.map((v) => v / 2), scale, weights);
      return new CalibrationRig(ctx, objects, x, weights, galois, model.id);
    } catch (err) {
      free(...objects.reverse());
      ctx.dispose();
      throw err;
    }
  }

  get level(): number {
    return this.ctx.topLevel;
  }

  get polyModulusDegree(): number {
    return this.ctx.params.polyModulusDegree;
  }

  /** Medians of `runs` rotations and `runs` multiply_plains, interleaved, after one warm-up of each. */
  measure(runs: number): CalibrationSample {
    const { seal, evaluator } = this.ctx;
    const out = new seal.Ciphertext();
    const rotations: number[] = [];
    const products: number[] = [];
    try {
      for (let i = 0; i <= runs; i++) {
        let t = performance.now();
        evaluator.rotateVector(this.x, 1, this.galois, out);
        const rotate = performance.now() - t;
        t = performance.now();
        evaluator.multiplyPlain(this.x, this.pt, out);
        const product = performance.now() - t;
        if (i === 0) continue;
        rotations.push(rotate);
        products.push(product);
      }
    } finally {
      free(out);
    }
    return { rotateMs: median(rotations), multiplyPlainMs: median(products) };
  }

  dispose(): void {
    free(...this.objects.reverse());
    this.ctx.dispose();
  }
}

/** Both ends' samples combined into the run's calibration (the mean of the two medians). */
export function combineCalibration(rig: CalibrationRig, runs: number, start: CalibrationSample, end: CalibrationSample): Calibration {
  return {
    model: rig.model,
    polyModulusDegree: rig.polyModulusDegree,
    level: rig.level,
    runs,
    start,
    end,
    rotateMs: (start.rotateMs + end.rotateMs) / 2,
    multiplyPlainMs: (start.multiplyPlainMs + end.multiplyPlainMs) / 2,
  };
}

/** A duration as multiples of the calibration: "26.5 rot, 349 mp". */
export function inCalibration(ms: number, c: Calibration): string {
  const f = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  return `${f(ms / c.rotateMs)} rot, ${f(ms / c.multiplyPlainMs)} mp`;
}

/** A rate (items per second) as items per calibration operation: "4.84 /rot, 0.37 /mp". */
export function rateInCalibration(perS: number, c: Calibration): string {
  const f = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(3));
  return `${f((perS * c.rotateMs) / 1000)} /rot, ${f((perS * c.multiplyPlainMs) / 1000)} /mp`;
}
