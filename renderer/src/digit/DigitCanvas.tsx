import { useCallback, useEffect, useRef, useState } from 'react';
import type { KeyboardEvent, PointerEvent } from 'react';
import { SIDE, intensities, toMnist } from './mnist-preprocess.js';

const SIZE = 280;
const PEN = 22;
const STEP = 10;

/**
 * A draw-a-digit pad: white ink on black, with a 28×28 preview of exactly what is encrypted. Mouse,
 * pen and touch draw with pointer events; from the keyboard, the arrow keys move the pen and Space
 * lifts or lowers it.
 */
export function DigitCanvas({ sample, disabled, onPixels }: { sample: number[]; disabled: boolean; onPixels: (pixels: number[] | null, source: 'drawn' | 'sample') => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const preview = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const last = useRef<{ x: number; y: number } | null>(null);
  const [pen, setPen] = useState<{ x: number; y: number; down: boolean }>({ x: SIZE / 2, y: SIZE / 2, down: false });
  const [empty, setEmpty] = useState(true);
  const [focused, setFocused] = useState(false);

  const context = () => canvas.current?.getContext('2d', { willReadFrequently: true }) ?? null;

  const showPreview = useCallback((pixels: number[] | null) => {
    const ctx = preview.current?.getContext('2d');
    if (!ctx) return;
    const image = ctx.createImageData(SIDE, SIDE);
    for (let i = 0; i < SIDE * SIDE; i++) {
      const v = Math.round((pixels?.[i] ?? 0) * 255);
      image.data.set([v, v, v, 255], i * 4);
    }
    ctx.putImageData(image, 0, 0);
  }, []);

  const clear = useCallback(() => {
    const ctx = context();
    if (!ctx) return;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, SIZE, SIZE);
    setEmpty(true);
    showPreview(null);
    onPixels(null, 'drawn');
  }, [onPixels, showPreview]);

  useEffect(() => {
    const ctx = context();
    if (!ctx) return;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, SIZE, SIZE);
    showPreview(null);
  }, [showPreview]);

  const commit = useCallback(() => {
    const ctx = context();
    if (!ctx) return;
    const { data } = ctx.getImageData(0, 0, SIZE, SIZE);
    const pixels = toMnist(intensities(data, SIZE, SIZE), SIZE, SIZE);
    setEmpty(pixels === null);
    showPreview(pixels);
    onPixels(pixels, 'drawn');
  }, [onPixels, showPreview]);

  function stroke(from: { x: number; y: number }, to: { x: number; y: number }) {
    const ctx = context();
    if (!ctx) return;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = PEN;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  }

  function point(event: PointerEvent<HTMLCanvasElement>) {
    const rect = event.currentTarget.getBoundingClientRect();
    return { x: ((event.clientX - rect.left) * SIZE) / rect.width, y: ((event.clientY - rect.top) * SIZE) / rect.height };
  }

  function down(event: PointerEvent<HTMLCanvasElement>) {
    if (disabled) return;
    event.currentTarget.setPointerCapture(event.pointerId);
    drawing.current = true;
    const p = point(event);
    last.current = p;
    stroke(p, p);
  }

  function move(event: PointerEvent<HTMLCanvasElement>) {
    if (!drawing.current || !last.current) return;
    const p = point(event);
    stroke(last.current, p);
    last.current = p;
  }

  function up() {
    if (!drawing.current) return;
    drawing.current = false;
    last.current = null;
    commit();
  }

  function key(event: KeyboardEvent<HTMLCanvasElement>) {
    if (disabled) return;
    const moves: Record<string, [number, number]> = { ArrowLeft: [-STEP, 0], ArrowRight: [STEP, 0], ArrowUp: [0, -STEP], ArrowDown: [0, STEP] };
    if (event.key === ' ' || event.key === 'Enter') {
      event.preventDefault();
      setPen((p) => {
        if (!p.down) stroke(p, p);
        else commit();
        return { ...p, down: !p.down };
      });
      return;
    }
    const d = moves[event.key];
    if (!d) return;
    event.preventDefault();
    setPen((p) => {
      const next = { x: Math.min(SIZE - PEN / 2, Math.max(PEN / 2, p.x + d[0])), y: Math.min(SIZE - PEN / 2, Math.max(PEN / 2, p.y + d[1])), down: p.down };
      if (p.down) stroke(p, next);
      return next;
    });
  }

  function useSample() {
    const ctx = context();
    if (!ctx) return;
    const cell = SIZE / SIDE;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, SIZE, SIZE);
    for (let i = 0; i < SIDE * SIDE; i++) {
      const v = Math.round((sample[i] ?? 0) * 255);
      if (v === 0) continue;
      ctx.fillStyle = `rgb(${v},${v},${v})`;
      ctx.fillRect((i % SIDE) * cell, Math.floor(i / SIDE) * cell, cell, cell);
    }
    setEmpty(false);
    showPreview(sample);
    // The sample is sent exactly as published, not re-sampled from the pad.
    onPixels([...sample], 'sample');
  }

  return (
    <div className="digit-pad">
      <div className="digit-pad-row">
        <div>
          <div className="digit-canvas-wrap">
            <canvas
              ref={canvas}
              width={SIZE}
              height={SIZE}
              className="digit-canvas"
              tabIndex={disabled ? -1 : 0}
              role="img"
              aria-label={`Drawing pad, ${empty ? 'empty' : 'with a drawing'}. Draw one digit with the mouse, a pen or a finger. From the keyboard: arrow keys move the pen, Space lowers or lifts it; the pen is ${pen.down ? 'down' : 'up'}.`}
              aria-describedby="digit-help"
              data-testid="digit-canvas"
              onPointerDown={down}
              onPointerMove={move}
              onPointerUp={up}
              onPointerCancel={up}
              onKeyDown={key}
              onFocus={() => setFocused(true)}
              onBlur={() => setFocused(false)}
            />
            {focused && <span className={`pen-cursor${pen.down ? ' down' : ''}`} aria-hidden="true" style={{ left: `${(pen.x / SIZE) * 100}%`, top: `${(pen.y / SIZE) * 100}%` }} />}
          </div>
          <p id="digit-help" className="muted small">
            Draw one digit, large and centred: white ink on black, as in MNIST.
          </p>
        </div>
        <figure className="digit-preview">
          <canvas ref={preview} width={SIDE} height={SIDE} aria-hidden="true" data-testid="digit-preview" />
          <figcaption className="small muted">What is encrypted: 28×28, centred by its centre of mass.</figcaption>
        </figure>
      </div>
      <div className="actions">
        <button type="button" className="button" onClick={clear} disabled={disabled} data-testid="digit-clear">
          Clear
        </button>
        <button type="button" className="button ghost" onClick={useSample} disabled={disabled} data-testid="digit-sample">
          Use a sample digit
        </button>
      </div>
    </div>
  );
}
