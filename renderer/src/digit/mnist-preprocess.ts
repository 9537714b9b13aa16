/**
 * MNIST-style preprocessing of a drawing: crop to the ink, scale it (keeping its aspect ratio) to
 * fit a 20×20 box with area averaging, then place it in the 28×28 field so that its centre of mass
 * is at the centre, as LeCun et al. prepared MNIST. Values are ink intensity in [0, 1], white
 * (1) on black (0), row by row.
 */
export const SIDE = 28;
const BOX = 20;
const INK = 0.05;

/** Ink intensity of an RGBA image drawn white on black (the red channel carries it). */
export function intensities(rgba: Uint8ClampedArray, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = rgba[i * 4]! / 255;
  return out;
}

/** The 784 values for the model, or null when nothing is drawn. */
export function toMnist(ink: Float32Array, width: number, height: number): number[] | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]! > INK) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const scale = BOX / Math.max(w, h);
  const tw = Math.max(1, Math.round(w * scale));
  const th = Math.max(1, Math.round(h * scale));

  // Area averaging: each target pixel is the mean of the source pixels whose centres fall in it.
  const small = new Float64Array(tw * th);
  for (let ty = 0; ty < th; ty++) {
    const sy0 = y0 + Math.floor((ty * h) / th);
    const sy1 = Math.max(sy0 + 1, y0 + Math.floor(((ty + 1) * h) / th));
    for (let tx = 0; tx < tw; tx++) {
      const sx0 = x0 + Math.floor((tx * w) / tw);
      const sx1 = Math.max(sx0 + 1, x0 + Math.floor(((tx + 1) * w) / tw));
      let sum = 0;
      for (let sy = sy0; sy < sy1; sy++) for (let sx = sx0; sx < sx1; sx++) sum += ink[sy * width + sx]!;
      small[ty * tw + tx] = sum / ((sy1 - sy0) * (sx1 - sx0));
    }
  }

  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = small[y * tw + x]!;
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  cx /= mass;
  cy /= mass;
  // Pixel indices 0..27: the field's centre of mass lands on (13.5, 13.5), the middle of the grid.
  const offX = Math.round(13.5 - cx);
  const offY = Math.round(13.5 - cy);

  const out = new Array<number>(SIDE * SIDE).fill(0);
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const X = x + offX;
      const Y = y + offY;
      if (X < 0 || Y < 0 || X >= SIDE || Y >= SIDE) continue;
      // Rounded to 1/1000: far finer than the 8-bit grey levels of MNIST, and compact in the history.
      out[Y * SIDE + X] = Math.round(Math.min(1, Math.max(0, small[y * tw + x]!)) * 1000) / 1000;
    }
  }
  return out;
}
