import type { Plan, PlanStep } from './plan.js';
import { estimatedKeyBytes } from './compile.js';

export interface StepCost {
  name: string;
  op: PlanStep['op'];
  levelIn: number;
  levelOut: number;
  rotations: number;
  ctCtMultiplications: number;
  ctPtMultiplications: number;
  rescales: number;
}

export interface PlanSummary {
  steps: StepCost[];
  totals: Omit<StepCost, 'name' | 'op' | 'levelIn' | 'levelOut'>;
  polyModulusDegree: number;
  coeffModulusBits: number[];
  depth: number;
  galoisSteps: number[];
  estimatedKeyBytes: { relin: number; galois: number };
  /** Uncompressed size of a fresh seeded input ciphertext and of a level-0 output ciphertext. */
  ciphertextBytes: { input: number; output: number };
}

function rotationCount(plan: Plan, amount: number): number {
  return amount ? (plan.rotationPaths[amount]?.length ?? 0) : 0;
}

export function summarise(plan: Plan): PlanSummary {
  const steps: StepCost[] = plan.steps.map((s) => {
    const base = { name: s.name, op: s.op, levelIn: s.levelIn, rotations: 0, ctCtMultiplications: 0, ctPtMultiplications: 0, rescales: 0 };
    switch (s.op) {
      case 'linear': {
        const maxBaby = Math.max(0, ...s.diagonals.map((d, i) => (d ? i % s.baby : 0)));
        let rotations = maxBaby * rotationCount(plan, s.babyUnit);
        for (const g of s.giantSchedule) rotations += rotationCount(plan, g.shift);
        rotations += rotationCount(plan, s.finalShift);
        for (const t of s.blockSums) rotations += rotationCount(plan, t);
        return { ...base, levelOut: s.levelIn - 1, rotations, ctPtMultiplications: s.diagonals.filter((d) => d).length, rescales: s.giantSchedule.length };
      }
      case 'batch-linear': {
        let nonzero = 0;
        for (const w of s.weights) if (w !== 0) nonzero++;
        return { ...base, levelOut: s.levelIn - 1, ctPtMultiplications: nonzero, rescales: s.rows };
      }
      case 'square':
        return { ...base, levelOut: s.levelIn - 1, ctCtMultiplications: 1, rescales: 1 };
      case 'cube':
        return { ...base, levelOut: s.levelIn - 2, ctCtMultiplications: 2, rescales: 2 };
    }
  });
  const sum = (k: 'rotations' | 'ctCtMultiplications' | 'ctPtMultiplications' | 'rescales'): number => steps.reduce((a, s) => a + s[k], 0);
  const p = plan.public.params;
  const keyBytes = estimatedKeyBytes(p);
  const n = p.polyModulusDegree;
  const dataBits = p.coeffModulusBits.slice(0, -1);
  return {
    steps,
    totals: { rotations: sum('rotations'), ctCtMultiplications: sum('ctCtMultiplications'), ctPtMultiplications: sum('ctPtMultiplications'), rescales: sum('rescales') },
    polyModulusDegree: n,
    coeffModulusBits: p.coeffModulusBits,
    depth: plan.depth,
    galoisSteps: plan.public.galoisSteps,
    estimatedKeyBytes: { relin: plan.public.relinearization ? keyBytes : 0, galois: keyBytes * plan.public.galoisSteps.length },
    ciphertextBytes: {
      input: plan.public.input.count * n * dataBits.length * 8,
      output: plan.public.output.count * 2 * n * 8,
    },
  };
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** A readable account of a plan: per layer rotations, multiplications, rescales and levels; key and ciphertext sizes. */
export function explain(plan: Plan): string {
  const s = summarise(plan);
  const pub = plan.public;
  const lines = [
    `${pub.model.id} ${pub.model.version} — layout ${pub.layout}, ${pub.samplesPerRequest} sample(s) per request`,
    `parameters: N=${s.polyModulusDegree}, chain ${s.coeffModulusBits.join('+')} = ${s.coeffModulusBits.reduce((a, b) => a + b, 0)} bits, scale 2^${pub.params.scaleBits}, depth ${s.depth}, 128-bit security`,
    `fingerprint: ${pub.params.fingerprint}`,
    `Galois steps: [${s.galoisSteps.join(', ')}]${pub.relinearization ? ' + relinearisation key' : ''}`,
    '',
    'step                         op            levels  rot  ct*ct  ct*pt  rescale',
  ];
  for (const st of s.steps) {
    lines.push(
      `${st.name.padEnd(28)} ${st.op.padEnd(13)} ${`${st.levelIn}->${st.levelOut}`.padEnd(7)} ${String(st.rotations).padStart(4)} ${String(st.ctCtMultiplications).padStart(6)} ${String(st.ctPtMultiplications).padStart(6)} ${String(st.rescales).padStart(8)}`,
    );
  }
  const t = s.totals;
  lines.push(`${'total'.padEnd(28)} ${''.padEnd(13)} ${''.padEnd(7)} ${String(t.rotations).padStart(4)} ${String(t.ctCtMultiplications).padStart(6)} ${String(t.ctPtMultiplications).padStart(6)} ${String(t.rescales).padStart(8)}`);
  lines.push('');
  lines.push(`keys (estimated, seeded + zstd): relinearisation ${kib(s.estimatedKeyBytes.relin)}, Galois ${kib(s.estimatedKeyBytes.galois)}`);
  lines.push(`ciphertexts (uncompressed, seeded): up ${pub.input.count} x ${kib(s.ciphertextBytes.input / pub.input.count)}, down ${pub.output.count} x ${kib(s.ciphertextBytes.output / pub.output.count)} at level 0`);
  return lines.join('\n');
}
