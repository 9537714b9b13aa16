import { describe, expect, it } from 'vitest';
import { SIDE, intensities, toMnist } from './mnist-preprocess.js';

function blank(size: number): Float32Array {
  return new Float32Array(size * size);
}

function rect(ink: Float32Array, size: number, x0: number, y0: number, x1: number, y1: number): void {
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) ink[y * size + x] = 1;
}

function centreOfMass(pixels: number[]): { x: number; y: number; mass: number } {
  let mass = 0;
  let x = 0;
  let y = 0;
  pixels.forEach((v, i) => {
    mass += v;
    x += v * (i % SIDE);
    y += v * Math.floor(i / SIDE);
  });
  return { x: x / mass, y: y / mass, mass };
}

describe('MNIST-style preprocessing of a drawing', () => {
  it('gives nothing for an empty pad', () => {
    expect(toMnist(blank(280), 280, 280)).toBeNull();
  });

  it('scales the ink to a 20-pixel box and centres it by its centre of mass', () => {
    const ink = blank(280);
    // A vertical bar drawn in the top-left corner.
    rect(ink, 280, 10, 10, 40, 210);
    const pixels = toMnist(ink, 280, 280)!;
    expect(pixels).toHaveLength(SIDE * SIDE);
    expect(pixels.every((v) => v >= 0 && v <= 1)).toBe(true);
    const com = centreOfMass(pixels);
    expect(Math.abs(com.x - 13.5)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(com.y - 13.5)).toBeLessThanOrEqual(0.5);
    const rows = new Set(pixels.flatMap((v, i) => (v > 0 ? [Math.floor(i / SIDE)] : [])));
    expect(rows.size).toBe(20);
  });

  it('reads the ink from the red channel of white-on-black RGBA', () => {
    const rgba = new Uint8ClampedArray([255, 255, 255, 255, 0, 0, 0, 255]);
    expect([...intensities(rgba, 2, 1)]).toEqual([1, 0]);
  });
});
