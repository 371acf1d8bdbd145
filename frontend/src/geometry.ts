/**
 * Measurement geometry of the viewer, in image pixel coordinates (column x, row y).
 *
 * Pure functions, no Cornerstone: the same computations the server repeats from the stored points
 * (tests/data/measurement_vectors.json keeps both sides equal; definitions in docs/measurements.md).
 * Physical values use the pixel spacing as DICOM gives it: [row spacing, column spacing] in mm,
 * i.e. the distance between rows (y) first, then between columns (x).
 */

export type Point = readonly [number, number];

/** Spacing in mm: [row spacing (y), column spacing (x)], the order of Pixel Spacing (0028,0030). */
export type Spacing = readonly [number, number];

export interface Circle {
  cx: number;
  cy: number;
  r: number;
}

const DEG = 180 / Math.PI;

function scaled(p: Point, spacing?: Spacing): Point {
  return spacing ? [p[0] * spacing[1], p[1] * spacing[0]] : p;
}

/** Distance between two points: in mm with a spacing, else in pixels. */
export function length(a: Point, b: Point, spacing?: Spacing): number {
  const [ax, ay] = scaled(a, spacing);
  const [bx, by] = scaled(b, spacing);
  return Math.hypot(bx - ax, by - ay);
}

/** Angle at `vertex` between the rays to `a` and `b`, in degrees (0..180). */
export function angle(a: Point, vertex: Point, b: Point, spacing?: Spacing): number {
  const [ax, ay] = scaled(a, spacing);
  const [vx, vy] = scaled(vertex, spacing);
  const [bx, by] = scaled(b, spacing);
  const ux = ax - vx;
  const uy = ay - vy;
  const wx = bx - vx;
  const wy = by - vy;
  const nu = Math.hypot(ux, uy);
  const nw = Math.hypot(wx, wy);
  if (nu === 0 || nw === 0) throw new RangeError('angle: a ray has zero length');
  // atan2 of cross and dot is exact near 0 and 180 degrees, where acos loses precision.
  return Math.abs(Math.atan2(ux * wy - uy * wx, ux * wx + uy * wy)) * DEG;
}

/** Acute angle between the lines a1-a2 and b1-b2, in degrees (0..90). */
export function lineAngle(a1: Point, a2: Point, b1: Point, b2: Point, spacing?: Spacing): number {
  const [p, q] = [scaled(a1, spacing), scaled(a2, spacing)];
  const [r, s] = [scaled(b1, spacing), scaled(b2, spacing)];
  const ux = q[0] - p[0];
  const uy = q[1] - p[1];
  const wx = s[0] - r[0];
  const wy = s[1] - r[1];
  if (Math.hypot(ux, uy) === 0 || Math.hypot(wx, wy) === 0) {
    throw new RangeError('lineAngle: a line has zero length');
  }
  const theta = Math.abs(Math.atan2(ux * wy - uy * wx, ux * wx + uy * wy)) * DEG;
  return theta > 90 ? 180 - theta : theta;
}

/**
 * Least-squares circle through three or more rim points (algebraic fit, Kasa 1976), in the
 * coordinates given. Three points give their circumscribed circle exactly.
 */
export function circleFit(points: readonly Point[]): Circle {
  const n = points.length;
  if (n < 3) throw new RangeError('circleFit: at least 3 points');
  // Centre the points for numerical stability.
  let mx = 0;
  let my = 0;
  for (const [x, y] of points) {
    mx += x;
    my += y;
  }
  mx /= n;
  my /= n;
  let suu = 0;
  let svv = 0;
  let suv = 0;
  let suuu = 0;
  let svvv = 0;
  let suvv = 0;
  let svuu = 0;
  for (const [x, y] of points) {
    const u = x - mx;
    const v = y - my;
    suu += u * u;
    svv += v * v;
    suv += u * v;
    suuu += u * u * u;
    svvv += v * v * v;
    suvv += u * v * v;
    svuu += v * u * u;
  }
  const b1 = (suuu + suvv) / 2;
  const b2 = (svvv + svuu) / 2;
  const det = suu * svv - suv * suv;
  if (Math.abs(det) < 1e-12 * Math.max(1, suu * svv)) {
    throw new RangeError('circleFit: the points are collinear');
  }
  const uc = (b1 * svv - b2 * suv) / det;
  const vc = (suu * b2 - suv * b1) / det;
  const r = Math.sqrt(uc * uc + vc * vc + (suu + svv) / n);
  return { cx: uc + mx, cy: vc + my, r };
}

/** Circle fit in physical units (mm): the rim points scaled by the spacing first. */
export function circleFitMm(points: readonly Point[], spacing: Spacing): Circle {
  return circleFit(points.map((p) => scaled(p, spacing)));
}

/**
 * Length expressed in vertebrae along a vertebral ladder: `ladder[0]` is the cranial edge of the
 * first vertebra (T4 for VHS), each next point the cranial edge of the next vertebra. The length
 * is laid off from the ladder's start; a partial vertebra counts by its fraction.
 */
export function vertebrae(lengthValue: number, ladder: readonly Point[], spacing?: Spacing): number {
  if (ladder.length < 2) throw new RangeError('vertebrae: a ladder needs at least 2 points');
  let remaining = lengthValue;
  for (let i = 1; i < ladder.length; i++) {
    const v = length(ladder[i - 1], ladder[i], spacing);
    if (remaining <= v) return i - 1 + remaining / v;
    remaining -= v;
  }
  // Beyond the ladder: extend with the last vertebra's length.
  const last = length(ladder[ladder.length - 2], ladder[ladder.length - 1], spacing);
  return ladder.length - 1 + remaining / last;
}

export interface VhsResult {
  long: number;
  short: number;
  vhs: number;
}

/**
 * Vertebral heart score (Buchanan & Bucheler 1995; cat: Litster & Buchanan 2000): the cardiac long
 * axis and the perpendicular short axis, each laid off along the vertebral ladder from the cranial
 * edge of T4, in vertebrae; VHS is their sum.
 */
export function vhs(
  longAxis: readonly [Point, Point],
  shortAxis: readonly [Point, Point],
  ladder: readonly Point[],
  spacing?: Spacing,
): VhsResult {
  const long = vertebrae(length(longAxis[0], longAxis[1], spacing), ladder, spacing);
  const short = vertebrae(length(shortAxis[0], shortAxis[1], spacing), ladder, spacing);
  return { long, short, vhs: long + short };
}

/**
 * Norberg angle of one hip (degrees): at this femoral head's centre, between the line to the other
 * femoral head's centre and the line to this hip's craniodorsal acetabular rim point.
 */
export function norberg(thisCentre: Point, otherCentre: Point, rim: Point, spacing?: Spacing): number {
  return angle(otherCentre, thisCentre, rim, spacing);
}

/**
 * Tibial plateau angle (Slocum & Devine 1983), degrees: between the tibial plateau line (cranial
 * and caudal plateau points) and the perpendicular to the functional axis of the tibia (centre of
 * the intercondylar eminences to the centre of the talus).
 */
export function tpa(
  plateauCranial: Point,
  plateauCaudal: Point,
  axisProximal: Point,
  axisDistal: Point,
  spacing?: Spacing,
): number {
  const between = lineAngle(plateauCranial, plateauCaudal, axisProximal, axisDistal, spacing);
  return 90 - between;
}

/**
 * Distraction index (PennHIP; Smith et al. 1990): distance between the centres of the femoral head
 * and the acetabulum divided by the femoral head's radius, each circle fitted from rim points.
 */
export function distractionIndex(
  femoralHeadRim: readonly Point[],
  acetabulumRim: readonly Point[],
  spacing?: Spacing,
): number {
  const head = spacing ? circleFitMm(femoralHeadRim, spacing) : circleFit(femoralHeadRim);
  const acetabulum = spacing ? circleFitMm(acetabulumRim, spacing) : circleFit(acetabulumRim);
  return Math.hypot(head.cx - acetabulum.cx, head.cy - acetabulum.cy) / head.r;
}

export type LengthUnit = 'mm' | 'detector mm' | 'px';

export interface Calibration {
  unit: LengthUnit;
  spacing?: Spacing;
}

/**
 * Which spacing a length may use: Pixel Spacing (0028,0030) gives patient mm; Imager Pixel Spacing
 * (0018,1164) alone gives "detector mm" (at the detector, magnification not corrected), never
 * silently patient mm; neither gives pixels.
 */
export function calibrationOf(pixelSpacing?: number[], imagerPixelSpacing?: number[]): Calibration {
  const valid = (s?: number[]): s is number[] => !!s && s.length >= 2 && s[0] > 0 && s[1] > 0;
  if (valid(pixelSpacing)) return { unit: 'mm', spacing: [pixelSpacing[0], pixelSpacing[1]] };
  if (valid(imagerPixelSpacing)) {
    return { unit: 'detector mm', spacing: [imagerPixelSpacing[0], imagerPixelSpacing[1]] };
  }
  return { unit: 'px' };
}

/** A length as displayed: "12.3 mm", "12.3 detector mm" or "123.4 px". */
export function formatLength(a: Point, b: Point, calibration: Calibration): string {
  const value = length(a, b, calibration.spacing);
  return `${value.toFixed(1)} ${calibration.unit}`;
}
