/**
 * Measurement geometry of the viewer: the TypeScript twin of src/vetpacs/measurements/geometry.py.
 *
 * Pure functions, no Cornerstone. Both sides run the shared vectors in
 * tests/data/measurement_vectors.json (tests/geometry.test.ts here), so a value the viewer shows
 * equals the value the server recomputes and stores. Definitions and references: docs/measurements.md.
 *
 * - A point is [column, row] in pixel index coordinates (Cornerstone3D index space).
 * - With a spacing, geometry is done on x = column * column_spacing, y = row * row_spacing.
 *   Pixel Spacing (0028,0030) and Imager Pixel Spacing (0018,1164) are [row, column] in mm.
 * - Scale precedence: user calibration > Pixel Spacing (patient mm) > Imager Pixel Spacing
 *   ("detector mm", never patient mm) > pixels.
 * - Rounding to 0.1 is floor(x * 10 + 0.5) / 10.
 */

export type Point = readonly [number, number];

export type Unit =
  | 'mm'
  | 'mm2'
  | 'detector_mm'
  | 'detector_mm2'
  | 'px'
  | 'px2'
  | 'deg'
  | 'vertebrae'
  | 'ratio'
  | 'count'
  | 'mm/px';

export type CalibrationSource = 'user' | 'pixel_spacing' | 'imager_pixel_spacing' | 'none';

export interface Quantity {
  value: number;
  unit: string;
}

export interface Result {
  tool: string;
  values: Record<string, Quantity>;
  calibrated: boolean;
  calibration_source: CalibrationSource;
  warnings: string[];
  extra: Record<string, unknown>;
}

export interface CalibrationInput {
  pixel_spacing?: readonly (number | string)[] | null;
  imager_pixel_spacing?: readonly (number | string)[] | null;
  user?: { line: unknown; known_mm: unknown } | null;
}

/** A measurement that the points do not define; `code` is one of docs/measurements.md's codes. */
export class GeometryError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'GeometryError';
  }
}

export interface Scale {
  columnMm: number;
  rowMm: number;
  source: CalibrationSource;
}

export const PIXELS: Scale = { columnMm: 1, rowMm: 1, source: 'none' };

export function isCalibrated(scale: Scale): boolean {
  return scale.source === 'user' || scale.source === 'pixel_spacing';
}

export function lengthUnit(scale: Scale): 'mm' | 'detector_mm' | 'px' {
  if (isCalibrated(scale)) return 'mm';
  return scale.source === 'imager_pixel_spacing' ? 'detector_mm' : 'px';
}

function areaUnit(scale: Scale): Unit {
  return ({ mm: 'mm2', detector_mm: 'detector_mm2', px: 'px2' } as const)[lengthUnit(scale)];
}

function toSpace(scale: Scale, p: Point): Point {
  return [p[0] * scale.columnMm, p[1] * scale.rowMm];
}

function toPixels(scale: Scale, p: Point): Point {
  return [p[0] / scale.columnMm, p[1] / scale.rowMm];
}

// --------------------------------------------------------------------------- input parsing
type Input = Record<string, unknown>;

function point(value: unknown, name: string): Point {
  if (
    Array.isArray(value) &&
    value.length === 2 &&
    value.every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    return [value[0] as number, value[1] as number];
  }
  throw new GeometryError('invalid_input', `${name} must be a [column, row] pair of numbers`);
}

function points(value: unknown, name: string, minimum = 0, exact?: number): Point[] {
  if (!Array.isArray(value)) {
    throw new GeometryError('invalid_input', `${name} must be a list of [column, row] points`);
  }
  const pts = value.map((v, i) => point(v, `${name}[${i}]`));
  if (exact !== undefined && pts.length !== exact) {
    throw new GeometryError('invalid_input', `${name} needs exactly ${exact} points`);
  }
  if (pts.length < minimum) throw new GeometryError('too_few_points', `${name} needs at least ${minimum} points`);
  return pts;
}

function spacing(value: unknown, name: string): [number, number] | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value) && value.length === 2) {
    const [row, col] = value.map((v) => (typeof v === 'string' ? Number(v) : v));
    if (typeof row === 'number' && typeof col === 'number' && row > 0 && col > 0) {
      if (Number.isFinite(row) && Number.isFinite(col)) return [row, col];
    }
  }
  throw new GeometryError('invalid_calibration', `${name} must be [row spacing, column spacing] > 0`);
}

/** Millimetres per pixel from a marker of known size drawn as a line: known_mm / |line| px. */
export function userMmPerPixel(user: unknown): number {
  if (!user || typeof user !== 'object' || Array.isArray(user)) {
    throw new GeometryError('invalid_calibration', 'user calibration must be an object');
  }
  const u = user as Input;
  const [a, b] = points(u.line, 'user.line', 0, 2);
  const known = u.known_mm;
  if (typeof known !== 'number' || !(known > 0)) {
    throw new GeometryError('invalid_calibration', 'user.known_mm must be a number > 0');
  }
  const px = dist(a, b);
  if (px <= 0) throw new GeometryError('zero_length', 'the calibration line has zero length');
  return known / px;
}

/** The length scale: user calibration > Pixel Spacing > Imager Pixel Spacing > pixels. */
export function scaleFrom(calibration: CalibrationInput | null | undefined): Scale {
  if (!calibration) return PIXELS;
  if (typeof calibration !== 'object') throw new GeometryError('invalid_calibration', 'calibration must be an object');
  if (calibration.user) {
    const mm = userMmPerPixel(calibration.user);
    return { columnMm: mm, rowMm: mm, source: 'user' };
  }
  const ps = spacing(calibration.pixel_spacing, 'pixel_spacing');
  if (ps) return { columnMm: ps[1], rowMm: ps[0], source: 'pixel_spacing' };
  const ips = spacing(calibration.imager_pixel_spacing, 'imager_pixel_spacing');
  if (ips) return { columnMm: ips[1], rowMm: ips[0], source: 'imager_pixel_spacing' };
  return PIXELS;
}

// --------------------------------------------------------------------------- primitives
export function roundTenth(x: number): number {
  return Math.floor(x * 10 + 0.5) / 10;
}

export function dist(a: Point, b: Point): number {
  return Math.hypot(b[0] - a[0], b[1] - a[1]);
}

const sub = (a: Point, b: Point): Point => [a[0] - b[0], a[1] - b[1]];
const cross = (u: Point, v: Point): number => u[0] * v[1] - u[1] * v[0];
const dot = (u: Point, v: Point): number => u[0] * v[0] + u[1] * v[1];
const DEG = 180 / Math.PI;

/** Angle between directions u and v in degrees, 0-180: atan2(|u x v|, u . v). */
export function angleBetween(u: Point, v: Point): number {
  if (Math.hypot(u[0], u[1]) === 0 || Math.hypot(v[0], v[1]) === 0) {
    throw new GeometryError('zero_length', 'an arm of the angle has zero length');
  }
  return Math.atan2(Math.abs(cross(u, v)), dot(u, v)) * DEG;
}

/** Acute angle between two undirected lines, 0-90 degrees. */
export function lineAngle(u: Point, v: Point): number {
  const a = angleBetween(u, v);
  return a > 90 ? 180 - a : a;
}

export interface Circle {
  cx: number;
  cy: number;
  r: number;
  rms: number;
}

function det3(m: number[][]): number {
  return (
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
  );
}

/** Least-squares (Kåsa 1976) circle through rim points, on centred and scaled points. */
export function fitCircle(pts: readonly Point[]): Circle {
  const n = pts.length;
  if (n < 3) throw new GeometryError('too_few_points', 'a circle fit needs at least three rim points');
  const mx = pts.reduce((s, p) => s + p[0], 0) / n;
  const my = pts.reduce((s, p) => s + p[1], 0) / n;
  const s = Math.sqrt(pts.reduce((acc, p) => acc + (p[0] - mx) ** 2 + (p[1] - my) ** 2, 0) / n);
  if (s === 0) throw new GeometryError('collinear_points', 'the rim points coincide');
  const us = pts.map((p) => [(p[0] - mx) / s, (p[1] - my) / s] as const);
  let suu = 0, svv = 0, suv = 0, su = 0, sv = 0, suz = 0, svz = 0, sz = 0; // prettier-ignore
  for (const [u, v] of us) {
    const z = u * u + v * v;
    suu += u * u;
    svv += v * v;
    suv += u * v;
    su += u;
    sv += v;
    suz += u * z;
    svz += v * z;
    sz += z;
  }
  const m = [
    [suu, suv, su],
    [suv, svv, sv],
    [su, sv, n],
  ];
  const rhs = [-suz, -svz, -sz];
  const det = det3(m);
  if (Math.abs(det) < 1e-9 * n ** 3) {
    throw new GeometryError('collinear_points', 'the rim points are (nearly) collinear');
  }
  const [d, e, f] = [0, 1, 2].map((col) => det3(m.map((row, i) => row.map((v, j) => (j === col ? rhs[i] : v)))) / det);
  const cu = -d / 2;
  const cv = -e / 2;
  const r2 = cu * cu + cv * cv - f;
  if (r2 <= 0) throw new GeometryError('collinear_points', 'the rim points do not define a circle');
  const cx = mx + cu * s;
  const cy = my + cv * s;
  const r = Math.sqrt(r2) * s;
  const rms = Math.sqrt(pts.reduce((acc, p) => acc + (dist(p, [cx, cy]) - r) ** 2, 0) / n);
  return { cx, cy, r, rms };
}

/** A length in vertebral units, walking the ladder from T4; true when past the last landmark. */
export function vertebralUnits(length: number, ladder: readonly Point[]): [number, boolean] {
  if (ladder.length < 2) throw new GeometryError('too_few_points', 'the vertebral ladder needs at least two landmarks');
  const segments = ladder.slice(1).map((p, i) => dist(ladder[i], p));
  if (segments.some((s) => s <= 0)) throw new GeometryError('zero_length', 'two consecutive ladder landmarks coincide');
  let walked = 0;
  for (let k = 0; k < segments.length; k++) {
    if (length <= walked + segments[k]) return [k + (length - walked) / segments[k], false];
    walked += segments[k];
  }
  return [segments.length + (length - walked) / segments[segments.length - 1], true];
}

// --------------------------------------------------------------------------- tools
const q = (value: number, unit: string): Quantity => ({ value, unit });
const lengthQ = (value: number, scale: Scale): Quantity => q(value, lengthUnit(scale));

function result(
  tool: string,
  values: Record<string, Quantity>,
  calibrated: boolean,
  source: CalibrationSource,
  warnings: string[] = [],
  extra: Record<string, unknown> = {},
): Result {
  return { tool, values, calibrated, calibration_source: source, warnings, extra };
}

function measureLength(inp: Input, scale: Scale): Result {
  const [a, b] = points(inp.line, 'line', 0, 2).map((p) => toSpace(scale, p));
  return result('length', { length: lengthQ(dist(a, b), scale) }, isCalibrated(scale), scale.source);
}

function measureAngle(inp: Input, scale: Scale): Result {
  const v = toSpace(scale, point(inp.vertex, 'vertex'));
  const a = toSpace(scale, point(inp.arm1, 'arm1'));
  const b = toSpace(scale, point(inp.arm2, 'arm2'));
  return result('angle', { angle: q(angleBetween(sub(a, v), sub(b, v)), 'deg') }, true, scale.source);
}

function measureCobb(inp: Input, scale: Scale): Result {
  const l1 = points(inp.line1, 'line1', 0, 2).map((p) => toSpace(scale, p));
  const l2 = points(inp.line2, 'line2', 0, 2).map((p) => toSpace(scale, p));
  return result('cobb', { angle: q(lineAngle(sub(l1[1], l1[0]), sub(l2[1], l2[0])), 'deg') }, true, scale.source);
}

function pixelSample(pixels: unknown, inside: (c: number, r: number) => boolean): number[] {
  if (!pixels || typeof pixels !== 'object' || Array.isArray(pixels)) {
    throw new GeometryError('invalid_input', 'pixels must be {origin: [c, r], values: [[...]]}');
  }
  const px = pixels as Input;
  const [c0, r0] = point(px.origin ?? [0, 0], 'pixels.origin');
  if (!Array.isArray(px.values)) throw new GeometryError('invalid_input', 'pixels.values must be a list of rows');
  const out: number[] = [];
  (px.values as unknown[][]).forEach((row, j) => {
    row.forEach((v, i) => {
      if (inside(c0 + i, r0 + j)) out.push(Number(v));
    });
  });
  return out;
}

function measureRoi(inp: Input, scale: Scale, tool: 'ellipse_roi' | 'rectangle_roi'): Result {
  const [[c1, r1], [c2, r2]] = points(inp.corners, 'corners', 0, 2);
  const [c0, cMax, r0, rMax] = [Math.min(c1, c2), Math.max(c1, c2), Math.min(r1, r2), Math.max(r1, r2)];
  const w = cMax - c0;
  const h = rMax - r0;
  if (w <= 0 || h <= 0) throw new GeometryError('zero_area', `the ${tool} has zero width or height`);
  const [cx, cy, a, b] = [(c0 + cMax) / 2, (r0 + rMax) / 2, w / 2, h / 2];
  let area: number;
  let inside: (c: number, r: number) => boolean;
  if (tool === 'ellipse_roi') {
    area = Math.PI * (a * scale.columnMm) * (b * scale.rowMm);
    inside = (c, r) => ((c - cx) / a) ** 2 + ((r - cy) / b) ** 2 <= 1 + 1e-12;
  } else {
    area = w * scale.columnMm * (h * scale.rowMm);
    inside = (c, r) => c0 <= c && c <= cMax && r0 <= r && r <= rMax;
  }
  const values: Record<string, Quantity> = { area: q(area, areaUnit(scale)) };
  if (inp.pixels !== undefined && inp.pixels !== null) {
    const sample = pixelSample(inp.pixels, inside);
    if (!sample.length) throw new GeometryError('empty_roi', 'no pixel centre lies inside the region');
    const vu = String(inp.value_unit || 'pixel_value');
    const n = sample.length;
    const mean = sample.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(sample.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    Object.assign(values, {
      mean: q(mean, vu),
      sd: q(sd, vu),
      min: q(sample.reduce((m, v) => (v < m ? v : m), Infinity), vu), // no spread: a big region
      max: q(sample.reduce((m, v) => (v > m ? v : m), -Infinity), vu), // would overflow the stack
      pixel_count: q(n, 'count'),
    });
  }
  return result(tool, values, isCalibrated(scale), scale.source);
}

function measureCircle(inp: Input, scale: Scale): Result {
  const c = fitCircle(points(inp.rim, 'rim', 3).map((p) => toSpace(scale, p)));
  const [col, row] = toPixels(scale, [c.cx, c.cy]);
  return result(
    'circle',
    {
      radius: lengthQ(c.r, scale),
      diameter: lengthQ(2 * c.r, scale),
      center_column: q(col, 'px'),
      center_row: q(row, 'px'),
      rms_residual: lengthQ(c.rms, scale),
    },
    isCalibrated(scale),
    scale.source,
  );
}

function calibrationScale(inp: Input): Result {
  return result('calibration', { mm_per_pixel: q(userMmPerPixel(inp), 'mm/px') }, true, 'user');
}

interface VhsReference {
  mean: number;
  sd: number;
  low?: number;
  high?: number;
  source: string;
  verify: boolean;
}

const LAMB = 'Lamb CR et al. J Small Anim Pract 2001;42(11):541-545';
const JEPSEN = 'Jepsen-Grant K et al. Vet Radiol Ultrasound 2013;54(4):390-395';

/** VHS reference ranges (docs/measurements.md); verify: quoted from secondary sources. */
export const VHS_REFERENCES: Record<string, Record<string, VhsReference>> = {
  dog: {
    '': { mean: 9.7, sd: 0.5, low: 8.7, high: 10.7, source: 'Buchanan JW, Bücheler J. JAVMA 1995;206(2):194-199 (n=100)', verify: false },
    cavalier_king_charles_spaniel: { mean: 10.6, sd: 0.5, source: LAMB, verify: false },
    boxer: { mean: 11.6, sd: 0.8, source: LAMB, verify: false },
    labrador_retriever: { mean: 10.8, sd: 0.6, source: LAMB, verify: false },
    german_shepherd: { mean: 9.7, sd: 0.7, source: LAMB, verify: true },
    doberman_pinscher: { mean: 10.0, sd: 0.6, source: LAMB, verify: true },
    yorkshire_terrier: { mean: 9.7, sd: 0.5, source: LAMB, verify: true },
    whippet: { mean: 11.0, sd: 0.5, source: 'Bavegems V et al. Vet Radiol Ultrasound 2005;46(5):400-403', verify: true },
    pug: { mean: 10.7, sd: 0.9, source: JEPSEN, verify: true },
    boston_terrier: { mean: 11.7, sd: 1.4, source: JEPSEN, verify: true },
    english_bulldog: { mean: 12.7, sd: 1.7, source: JEPSEN, verify: true },
  },
  cat: {
    '': { mean: 7.5, sd: 0.3, low: 6.7, high: 8.1, source: 'Litster AL, Buchanan JW. JAVMA 2000;216(2):210-214 (n=100)', verify: false },
  },
};

export function vhsReference(species: string, breed: string | null): Required<VhsReference> & { breed: string } {
  const table = VHS_REFERENCES[species];
  if (!table) throw new GeometryError('invalid_input', "species must be 'dog' or 'cat'");
  const key = (breed ?? '').trim().toLowerCase().replace(/ /g, '_').replace(/-/g, '_');
  const ref = { ...(table[key] ?? table['']) };
  return {
    ...ref,
    breed: key in table ? key : '',
    low: ref.low ?? roundTenth(ref.mean - 2 * ref.sd),
    high: ref.high ?? roundTenth(ref.mean + 2 * ref.sd),
  };
}

function measureVhs(inp: Input, scale: Scale): Result {
  const species = String(inp.species || 'dog');
  const breed = typeof inp.breed === 'string' ? inp.breed : null;
  const ladder = points(inp.ladder, 'ladder', 2).map((p) => toSpace(scale, p));
  const warnings: string[] = [];
  const axes: Record<string, [number, number]> = {};
  for (const name of ['long_axis', 'short_axis']) {
    const [a, b] = points(inp[name], name, 0, 2).map((p) => toSpace(scale, p));
    const length = dist(a, b);
    if (length <= 0) throw new GeometryError('zero_length', `${name} has zero length`);
    const [vu, extrapolated] = vertebralUnits(length, ladder);
    if (extrapolated) warnings.push(`${name}_beyond_ladder`);
    axes[name] = [length, vu];
  }
  const longVu = roundTenth(axes.long_axis[1]);
  const shortVu = roundTenth(axes.short_axis[1]);
  const vhs = roundTenth(longVu + shortVu);
  const ref = vhsReference(species, breed);
  const interpretation = vhs < ref.low ? 'below' : vhs > ref.high ? 'above' : 'within';
  return result(
    'vhs',
    {
      vhs: q(vhs, 'vertebrae'),
      long_axis_vertebrae: q(longVu, 'vertebrae'),
      short_axis_vertebrae: q(shortVu, 'vertebrae'),
      long_axis_length: lengthQ(axes.long_axis[0], scale),
      short_axis_length: lengthQ(axes.short_axis[0], scale),
    },
    true,
    scale.source,
    warnings,
    { species, reference: ref, interpretation },
  );
}

export const VLAS_CUTOFF = 2.3; // Malcolm et al. 2018

function measureVlas(inp: Input, scale: Scale): Result {
  const ladder = points(inp.ladder, 'ladder', 2).map((p) => toSpace(scale, p));
  const [a, b] = points(inp.axis, 'axis', 0, 2).map((p) => toSpace(scale, p));
  const length = dist(a, b);
  if (length <= 0) throw new GeometryError('zero_length', 'the VLAS line has zero length');
  const [vu, extrapolated] = vertebralUnits(length, ladder);
  const vlas = roundTenth(vu);
  return result(
    'vlas',
    { vlas: q(vlas, 'vertebrae'), length: lengthQ(length, scale) },
    true,
    scale.source,
    extrapolated ? ['axis_beyond_ladder'] : [],
    {
      cutoff: VLAS_CUTOFF,
      interpretation: vlas >= VLAS_CUTOFF ? 'enlarged' : 'normal',
      source: 'Malcolm EL et al. JAVMA 2018;253(8):1038-1045',
    },
  );
}

export const NORBERG_NORMAL_MIN = 105;

function measureNorberg(inp: Input, scale: Scale): Result {
  const lc = fitCircle(points(inp.left_head_rim, 'left_head_rim', 3).map((p) => toSpace(scale, p)));
  const rc = fitCircle(points(inp.right_head_rim, 'right_head_rim', 3).map((p) => toSpace(scale, p)));
  const la = toSpace(scale, point(inp.left_acetabular_rim, 'left_acetabular_rim'));
  const ra = toSpace(scale, point(inp.right_acetabular_rim, 'right_acetabular_rim'));
  const left_c: Point = [lc.cx, lc.cy];
  const right_c: Point = [rc.cx, rc.cy];
  if (dist(left_c, right_c) === 0) throw new GeometryError('zero_length', 'the two femoral head centres coincide');
  const left = angleBetween(sub(right_c, left_c), sub(la, left_c));
  const right = angleBetween(sub(left_c, right_c), sub(ra, right_c));
  const reading = (a: number) => (roundTenth(a) >= NORBERG_NORMAL_MIN ? 'normal' : 'reduced');
  return result(
    'norberg',
    {
      left_angle: q(left, 'deg'),
      right_angle: q(right, 'deg'),
      left_head_radius: lengthQ(lc.r, scale),
      right_head_radius: lengthQ(rc.r, scale),
    },
    true,
    scale.source,
    [],
    {
      left_center: [...toPixels(scale, left_c)],
      right_center: [...toPixels(scale, right_c)],
      normal_min: NORBERG_NORMAL_MIN,
      left_interpretation: reading(left),
      right_interpretation: reading(right),
    },
  );
}

function measureTpa(inp: Input, scale: Scale): Result {
  const [cr, ca] = points(inp.plateau, 'plateau', 0, 2).map((p) => toSpace(scale, p));
  const [px, ds] = points(inp.axis, 'axis', 0, 2).map((p) => toSpace(scale, p));
  const p = sub(ca, cr);
  let d = sub(ds, px);
  if (Math.hypot(p[0], p[1]) === 0) throw new GeometryError('zero_length', 'the plateau line has zero length');
  const dn = Math.hypot(d[0], d[1]);
  if (dn === 0) throw new GeometryError('zero_length', 'the functional axis has zero length');
  d = [d[0] / dn, d[1] / dn];
  const tpa = Math.atan2(dot(p, d), Math.abs(cross(p, d))) * DEG;
  return result('tpa', { tpa: q(tpa, 'deg') }, true, scale.source);
}

function measureDistractionIndex(inp: Input, scale: Scale): Result {
  const head = fitCircle(points(inp.femoral_head_rim, 'femoral_head_rim', 3).map((p) => toSpace(scale, p)));
  const acet = fitCircle(points(inp.acetabulum_rim, 'acetabulum_rim', 3).map((p) => toSpace(scale, p)));
  const offset = dist([head.cx, head.cy], [acet.cx, acet.cy]);
  return result(
    'distraction_index',
    {
      di: q(offset / head.r, 'ratio'),
      center_offset: lengthQ(offset, scale),
      femoral_head_radius: lengthQ(head.r, scale),
      acetabulum_radius: lengthQ(acet.r, scale),
    },
    true,
    scale.source,
    [],
    { side: String(inp.side || '') },
  );
}

function annotation(tool: string) {
  return (inp: Input, scale: Scale): Result => {
    for (const name of ['start', 'end', 'anchor']) if (name in inp) point(inp[name], name);
    return result(tool, {}, true, scale.source);
  };
}

const TOOLS: Record<string, (inp: Input, scale: Scale) => Result> = {
  length: measureLength,
  angle: measureAngle,
  cobb: measureCobb,
  ellipse_roi: (inp, scale) => measureRoi(inp, scale, 'ellipse_roi'),
  rectangle_roi: (inp, scale) => measureRoi(inp, scale, 'rectangle_roi'),
  circle: measureCircle,
  calibration: (inp) => calibrationScale(inp),
  vhs: measureVhs,
  vlas: measureVlas,
  norberg: measureNorberg,
  tpa: measureTpa,
  distraction_index: measureDistractionIndex,
  arrow: annotation('arrow'),
  text: annotation('text'),
};

/** Compute a tool from its point set and the image calibration (the shared-vector entry point). */
export function compute(tool: string, pts: unknown, calibration?: CalibrationInput | null): Result {
  const fn = TOOLS[tool];
  if (!fn) throw new GeometryError('unknown_tool', `unknown tool ${JSON.stringify(tool)}`);
  if (!pts || typeof pts !== 'object' || Array.isArray(pts)) {
    throw new GeometryError('invalid_input', 'points must be an object');
  }
  return fn(pts as Input, scaleFrom(calibration));
}

// --------------------------------------------------------------------------- display helpers
/** How the viewer labels a length unit: "mm", "detector mm" or "px". */
export function unitLabel(unit: string): string {
  return unit === 'detector_mm' ? 'detector mm' : unit === 'detector_mm2' ? 'detector mm²' : unit;
}

/** The calibration of an image from its header (Pixel Spacing, Imager Pixel Spacing). */
export function calibrationOf(pixelSpacing?: number[], imagerPixelSpacing?: number[]): CalibrationInput {
  return { pixel_spacing: pixelSpacing ?? null, imager_pixel_spacing: imagerPixelSpacing ?? null, user: null };
}

/** A length as displayed: "12.3 mm", "12.3 detector mm" or "123.4 px" (rounded half up to 0.1). */
export function formatLength(a: Point, b: Point, calibration: CalibrationInput | null): string {
  const { value, unit } = compute('length', { line: [a, b] }, calibration).values.length;
  return `${roundTenth(value).toFixed(1)} ${unitLabel(unit)}`;
}
