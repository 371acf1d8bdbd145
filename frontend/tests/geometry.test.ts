import { describe, expect, it } from 'vitest';
import {
  angle,
  calibrationOf,
  circleFit,
  distractionIndex,
  formatLength,
  length,
  lineAngle,
  norberg,
  tpa,
  vertebrae,
  vhs,
} from '../src/geometry';

describe('length', () => {
  it('is in pixels without spacing, in mm with [row, column] spacing', () => {
    expect(length([0, 0], [3, 4])).toBeCloseTo(5, 12);
    // x spans columns (column spacing 0.2), y spans rows (row spacing 0.1)
    expect(length([0, 0], [10, 0], [0.1, 0.2])).toBeCloseTo(2, 12);
    expect(length([0, 0], [0, 10], [0.1, 0.2])).toBeCloseTo(1, 12);
  });
});

describe('angle', () => {
  it('measures the angle at the vertex', () => {
    expect(angle([1, 0], [0, 0], [0, 1])).toBeCloseTo(90, 10);
    expect(angle([1, 0], [0, 0], [1, 1])).toBeCloseTo(45, 10);
    expect(angle([1, 0], [0, 0], [-1, 0])).toBeCloseTo(180, 10);
    expect(() => angle([0, 0], [0, 0], [1, 0])).toThrow(RangeError);
  });
  it('lines meet at an acute angle', () => {
    expect(lineAngle([0, 0], [1, 0], [0, 0], [-1, 1])).toBeCloseTo(45, 10);
  });
});

describe('circleFit', () => {
  it('recovers a circle from exact rim points', () => {
    const pts = [0, 1, 2, 3, 4].map((k) => {
      const t = (k * 2 * Math.PI) / 5 + 0.3;
      return [12.5 + 7 * Math.cos(t), -3 + 7 * Math.sin(t)] as const;
    });
    const c = circleFit(pts);
    expect(c.cx).toBeCloseTo(12.5, 9);
    expect(c.cy).toBeCloseTo(-3, 9);
    expect(c.r).toBeCloseTo(7, 9);
  });
  it('three points give the circumscribed circle; collinear points fail', () => {
    const c = circleFit([
      [1, 0],
      [0, 1],
      [-1, 0],
    ]);
    expect([c.cx, c.cy, c.r].map((v) => +v.toFixed(9))).toEqual([0, 0, 1]);
    expect(() => circleFit([[0, 0], [1, 1], [2, 2]])).toThrow(RangeError);
  });
});

describe('veterinary tools', () => {
  it('VHS lays each axis off along the vertebral ladder', () => {
    const ladder = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => [100 + 20 * i, 50] as const);
    expect(vertebrae(50, ladder)).toBeCloseTo(2.5, 12);
    const r = vhs(
      [
        [0, 0],
        [0, 106],
      ],
      [
        [0, 0],
        [84, 0],
      ],
      ladder,
    );
    expect(r.long).toBeCloseTo(5.3, 12);
    expect(r.short).toBeCloseTo(4.2, 12);
    expect(r.vhs).toBeCloseTo(9.5, 12);
  });
  it('Norberg angle, TPA and distraction index', () => {
    expect(norberg([0, 0], [-10, 0], [5, -5])).toBeCloseTo(135, 10);
    // plateau rotated 20 degrees from the perpendicular to a vertical functional axis
    const t = (20 * Math.PI) / 180;
    expect(tpa([0, 0], [Math.cos(t), -Math.sin(t)], [0, 0], [0, 10])).toBeCloseTo(20, 10);
    const ring = (cx: number, cy: number, r: number) =>
      [0, 1, 2, 3].map((k) => [cx + r * Math.cos(k + 0.1), cy + r * Math.sin(k + 0.1)] as const);
    expect(distractionIndex(ring(3, 4, 10), ring(0, 0, 11))).toBeCloseTo(0.5, 9);
  });
});

describe('calibration', () => {
  it('mm only with Pixel Spacing; Imager Pixel Spacing alone is detector mm', () => {
    expect(calibrationOf([0.1, 0.1], [0.12, 0.12]).unit).toBe('mm');
    expect(calibrationOf(undefined, [0.12, 0.12]).unit).toBe('detector mm');
    expect(calibrationOf(undefined, undefined).unit).toBe('px');
    expect(formatLength([0, 0], [100, 0], calibrationOf(undefined, [0.15, 0.15]))).toBe('15.0 detector mm');
  });
});
