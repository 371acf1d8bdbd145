/**
 * Linked scrolling: which image of another stack goes with the image shown in this one.
 *
 * By patient position when both stacks share a Frame of Reference (0020,0052) and are parallel
 * (two series of one CT or MR: kernels, thicknesses, contrast phases): the slice of the other stack
 * nearest along the slice normal to this one's Image Position (Patient) (PS3.3 C.7.6.2). Otherwise
 * (a prior study, another frame of reference, images without a plane) by relative place in the
 * stack, the same fraction from first to last, since positions of different studies do not
 * correspond without registration.
 */
export type Vec3 = [number, number, number];

export interface SlicePlane {
  frameOfReference: string;
  position: Vec3; // Image Position (Patient), mm
  row: Vec3; // Image Orientation (Patient): row direction cosines
  column: Vec3; // column direction cosines
}

export interface Follow {
  index: number;
  by: 'position' | 'relative';
  distanceMm?: number; // how far the chosen slice is from the source's position along the normal
}

const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];

/** The unit normal of a plane (row x column), undefined when the cosines are degenerate. */
export function normalOf(plane: SlicePlane): Vec3 | undefined {
  const n = cross(plane.row, plane.column);
  const len = Math.hypot(...n);
  return len > 1e-6 ? [n[0] / len, n[1] / len, n[2] / len] : undefined;
}

/** The index `to` should show when `from` shows `fromIndex` (see the module comment). */
export function followIndex(
  from: readonly (SlicePlane | undefined)[],
  fromIndex: number,
  to: readonly (SlicePlane | undefined)[],
): Follow {
  const relative = (): Follow => ({
    index: from.length > 1 && to.length > 1 ? Math.round((fromIndex / (from.length - 1)) * (to.length - 1)) : 0,
    by: 'relative',
  });
  const source = from[fromIndex];
  const normal = source && normalOf(source);
  if (!source || !normal || !source.frameOfReference || to.length === 0) return relative();
  let best = -1;
  let bestDistance = Infinity;
  const at = dot(normal, source.position);
  for (let i = 0; i < to.length; i++) {
    const plane = to[i];
    const n = plane && normalOf(plane);
    if (!plane || !n || plane.frameOfReference !== source.frameOfReference || Math.abs(dot(n, normal)) < 0.99) {
      return relative();
    }
    const distance = Math.abs(dot(normal, plane.position) - at);
    if (distance < bestDistance) {
      best = i;
      bestDistance = distance;
    }
  }
  return { index: best, by: 'position', distanceMm: bestDistance };
}
