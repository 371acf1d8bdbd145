import { describe, expect, it } from 'vitest';
import { followIndex, normalOf, type SlicePlane, type Vec3 } from '../src/sync';

const AXIAL: [Vec3, Vec3] = [
  [1, 0, 0],
  [0, 1, 0],
];

function stack(frameOfReference: string, zs: number[], [row, column] = AXIAL): SlicePlane[] {
  return zs.map((z) => ({ frameOfReference, position: [-100, -100, z], row, column }));
}

describe('linked scrolling', () => {
  it('follows by patient position in one frame of reference', () => {
    const thin = stack('1.2.3', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const thick = stack('1.2.3', [0.5, 3, 5.5, 8]); // 2.5 mm, other start
    expect(followIndex(thin, 5, thick)).toEqual({ index: 2, by: 'position', distanceMm: 0.5 });
    expect(followIndex(thin, 10, thick)).toEqual({ index: 3, by: 'position', distanceMm: 2 });
    expect(followIndex(thick, 1, thin)).toEqual({ index: 3, by: 'position', distanceMm: 0 });
    // whatever the order of the slices in the stack (feet first)
    const reversed = stack('1.2.3', [10, 7.5, 5, 2.5, 0]);
    expect(followIndex(thin, 3, reversed).index).toBe(3);
  });

  it('falls back to the relative place across frames of reference, orientations or missing planes', () => {
    const current = stack('1.2.3', [0, 1, 2, 3, 4]);
    const prior = stack('9.9.9', [50, 52, 54]);
    expect(followIndex(current, 4, prior)).toEqual({ index: 2, by: 'relative' });
    expect(followIndex(current, 2, prior)).toEqual({ index: 1, by: 'relative' });
    const sagittal = stack('1.2.3', [0, 1, 2], [
      [0, 1, 0],
      [0, 0, -1],
    ]);
    expect(followIndex(current, 4, sagittal).by).toBe('relative');
    expect(followIndex([undefined, undefined], 1, current)).toEqual({ index: 4, by: 'relative' });
    expect(followIndex(current, 0, [undefined]).by).toBe('relative');
  });

  it('computes the slice normal', () => {
    expect(normalOf(stack('1', [0])[0])).toEqual([0, 0, 1]);
    expect(normalOf({ frameOfReference: '1', position: [0, 0, 0], row: [1, 0, 0], column: [1, 0, 0] })).toBeUndefined();
  });
});
