import { describe, expect, it } from 'vitest';
import { loadBundledModels } from '../bundled-models.js';
import { CalibrationRig, combineCalibration, inCalibration, rateInCalibration } from './calibration.js';

describe('benchmark calibration', () => {
  it('times a rotation and a multiply_plain at mnist-cnn’s top level; figures read as multiples of them', async () => {
    const model = loadBundledModels().find((m) => m.id === 'mnist-cnn')!;
    const rig = await CalibrationRig.create(model);
    try {
      expect(rig.polyModulusDegree).toBe(8192);
      expect(rig.level).toBe(5);
      const start = rig.measure(2);
      const end = rig.measure(2);
      for (const s of [start, end]) {
        expect(s.rotateMs).toBeGreaterThan(0);
        expect(s.multiplyPlainMs).toBeGreaterThan(0);
        // A rotation (key switching: NTTs and products with the key) is far dearer than a plaintext product.
        expect(s.rotateMs).toBeGreaterThan(2 * s.multiplyPlainMs);
      }
      const c = combineCalibration(rig, 2, start, end);
      expect(c.rotateMs).toBeCloseTo((start.rotateMs + end.rotateMs) / 2, 9);
      const fixed = { ...c, rotateMs: 15, multiplyPlainMs: 1.2 };
      expect(inCalibration(390, fixed)).toBe('26.0 rot, 325 mp');
      expect(rateInCalibration(328, fixed)).toBe('4.920 /rot, 0.394 /mp');
    } finally {
      rig.dispose();
    }
  }, 60_000);
});
