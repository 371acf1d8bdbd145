/**
 * The guided veterinary measurements other than VHS (docs/viewer.md "Guided VLAS / Norberg / TPA /
 * DI"), pure parts: for each tool its ordered steps (what to click or drag, with the anatomical
 * instruction from docs/measurements.md), the names of its landmarks drawn on the image, the point
 * set for geometry.ts `compute` (and back, to restore a saved one) and how its Result reads.
 * main.ts drives any of these specs with one controller ("guided measurements").
 */
import { NORBERG_NORMAL_MIN, VLAS_CUTOFF, roundTenth, type Point, type Result } from './geometry';
import { roundPoint } from './tools-measure';

export type GuidedTool = 'vlas' | 'norberg' | 'tpa' | 'distraction_index';
export type Side = 'left' | 'right';

/** Choices made in the guide besides the points (the side of a distraction index). */
export interface GuidedOptions {
  side?: Side;
}

/**
 * One step: `point` = one click; `points` = clicks until `max` (when given) or until the user
 * presses the step's button (`done`) with at least `min`; `line` = one drag (two points).
 */
export interface GuidedStep {
  id: string;
  kind: 'point' | 'points' | 'line';
  min: number;
  max?: number;
  /** The label of the "this step is complete" button of a variable `points` step. */
  done?: string;
  text: (options: GuidedOptions) => string;
  /** The step's short name in the guide's progress ("Ladder", "L femoral head"). */
  label: (options: GuidedOptions) => string;
  /** The name drawn beside the i-th landmark (or the line) of this step. */
  name: (index: number, options: GuidedOptions) => string;
  /** A circle is fitted through this step's points (drawn once it exists). */
  circle?: boolean;
}

export interface GuidedDescription {
  /** The headline: "VLAS 2.1 v", "L 108.2° normal · R 99.5° reduced", "TPA 24.3°", "DI 0.42 (left)". */
  value: string;
  /** The numbers of the headline, as shown (data-value of the result). */
  data: string;
  reading?: string;
  /** A CSS-friendly word for the reading ('normal', 'enlarged', 'reduced', 'tight', 'lax'). */
  readingClass?: string;
  reference: string;
  /** The Measurements panel's line. */
  panel: string;
}

export type Collected = Record<string, Point[]>;

export interface GuidedSpec {
  tool: GuidedTool;
  /** The toolbar button's text and the Measurements panel's name. */
  button: string;
  title: string;
  needsSide: boolean;
  steps: GuidedStep[];
  /** The stored point set (docs/measurements.md), points rounded to 0.001 px. */
  pointSet: (collected: Collected, options: GuidedOptions) => Record<string, unknown>;
  /** The inverse of pointSet: the points of each step and the options of a saved point set. */
  partsOf: (points: Record<string, unknown>) => { collected: Collected; options: GuidedOptions } | undefined;
  describe: (result: Result) => GuidedDescription;
  /** A value line drawn beside the first landmark of a step once the result exists. */
  onImage: (result: Result) => Record<string, string>;
}

/** Rounded half up to 0.01 (as roundTenth to 0.1): floor(x * 100 + 0.5) / 100. */
export function roundHundredth(x: number): number {
  return Math.floor(x * 100 + 0.5) / 100;
}

const L = (o: GuidedOptions): string => (o.side === 'right' ? 'R' : 'L');
const sideWord = (o: GuidedOptions): string => o.side ?? '(choose the side)';

function isPoint(v: unknown): v is Point {
  return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function pointList(v: unknown, min: number, exact?: number): Point[] | undefined {
  if (!Array.isArray(v) || v.length < min || (exact !== undefined && v.length !== exact) || !v.every(isPoint)) {
    return undefined;
  }
  return v as Point[];
}

const rounded = (pts: readonly Point[] | undefined): [number, number][] => (pts ?? []).map(roundPoint);
const one = (pts: readonly Point[] | undefined): [number, number] => roundPoint((pts ?? [])[0] ?? [NaN, NaN]);

// --------------------------------------------------------------------------- VLAS
const VLAS: GuidedSpec = {
  tool: 'vlas',
  button: 'VLAS',
  title: 'Vertebral left atrial size',
  needsSide: false,
  steps: [
    {
      id: 'ladder',
      kind: 'points',
      min: 2,
      done: 'Ladder done',
      text: () =>
        'Lateral thorax. Click the cranial edge of the body of T4, then the cranial edge of T5, T6 ... along the ' +
        'spine (the ladder, T4 first). Mark more vertebrae than the VLAS line is long (4 or more), then press "Ladder done".',
      label: () => 'Ladder',
      name: (i) => `T${4 + i}`,
    },
    {
      id: 'axis',
      kind: 'line',
      min: 2,
      max: 2,
      text: () =>
        'Draw the VLAS line: from the centre of the ventral border of the carina to the most caudal aspect of the ' +
        'left atrium, where it meets the dorsal border of the caudal vena cava.',
      label: () => 'VLAS line',
      name: () => 'VLAS line',
    },
  ],
  pointSet: (c) => ({ ladder: rounded(c.ladder), axis: rounded(c.axis) }),
  partsOf: (p) => {
    const ladder = pointList(p.ladder, 2);
    const axis = pointList(p.axis, 2, 2);
    return ladder && axis ? { collected: { ladder, axis }, options: {} } : undefined;
  },
  describe: (r) => {
    const vlas = roundTenth(r.values.vlas.value);
    const enlarged = String(r.extra.interpretation) === 'enlarged';
    const value = `VLAS ${vlas.toFixed(1)} v`;
    const reading = enlarged
      ? `at or above ${VLAS_CUTOFF.toFixed(1)} v: left atrial enlargement likely`
      : `below ${VLAS_CUTOFF.toFixed(1)} v: no left atrial enlargement`;
    return {
      value,
      data: vlas.toFixed(1),
      reading,
      readingClass: enlarged ? 'enlarged' : 'normal',
      reference: `Cut-off ${VLAS_CUTOFF.toFixed(1)} v in dogs with MMVD (Malcolm EL et al. JAVMA 2018;253(8):1038-1045); no feline cut-off`,
      panel: `${value} · ${enlarged ? 'enlarged' : 'normal'} (cut-off ${VLAS_CUTOFF.toFixed(1)})`,
    };
  },
  onImage: (r) => ({ axis: `VLAS ${roundTenth(r.values.vlas.value).toFixed(1)} v` }),
};

// --------------------------------------------------------------------------- Norberg angle
function headRimStep(side: Side): GuidedStep {
  const word = side === 'left' ? 'left' : 'right';
  const letter = side === 'left' ? 'L' : 'R';
  return {
    id: `${side}_head_rim`,
    kind: 'points',
    min: 3,
    done: 'Rim done',
    circle: true,
    text: () =>
      `Ventrodorsal hip-extended view. The patient's ${word} femoral head (check the L/R marker): click 3 or more ` +
      'points on the rim of the femoral head, spread over at least a third of its circumference, then press "Rim done".',
    label: () => `${letter} femoral head`,
    name: (i) => `${letter} head rim ${i + 1}`,
  };
}

function acetabularRimStep(side: Side): GuidedStep {
  const word = side === 'left' ? 'left' : 'right';
  const letter = side === 'left' ? 'L' : 'R';
  return {
    id: `${side}_acetabular_rim`,
    kind: 'point',
    min: 1,
    max: 1,
    text: () =>
      `Click the craniodorsal rim of the ${word} acetabulum: the most craniolateral point of its cranial ` +
      'effective acetabular margin.',
    label: () => `${letter} acetabular rim`,
    name: () => `${letter} acetabular rim`,
  };
}

function norbergReading(angle: number, interpretation: unknown): string {
  return `${roundTenth(angle).toFixed(1)}° ${interpretation === 'normal' ? 'normal' : 'reduced'}`;
}

const NORBERG: GuidedSpec = {
  tool: 'norberg',
  button: 'Norberg',
  title: 'Norberg angle',
  needsSide: false,
  steps: [headRimStep('left'), acetabularRimStep('left'), headRimStep('right'), acetabularRimStep('right')],
  pointSet: (c) => ({
    left_head_rim: rounded(c.left_head_rim),
    right_head_rim: rounded(c.right_head_rim),
    left_acetabular_rim: one(c.left_acetabular_rim),
    right_acetabular_rim: one(c.right_acetabular_rim),
  }),
  partsOf: (p) => {
    const left = pointList(p.left_head_rim, 3);
    const right = pointList(p.right_head_rim, 3);
    const la = p.left_acetabular_rim;
    const ra = p.right_acetabular_rim;
    if (!left || !right || !isPoint(la) || !isPoint(ra)) return undefined;
    return {
      collected: { left_head_rim: left, left_acetabular_rim: [la], right_head_rim: right, right_acetabular_rim: [ra] },
      options: {},
    };
  },
  describe: (r) => {
    const left = norbergReading(r.values.left_angle.value, r.extra.left_interpretation);
    const right = norbergReading(r.values.right_angle.value, r.extra.right_interpretation);
    const value = `L ${left} · R ${right}`;
    const reduced = (['left', 'right'] as const).filter((k) => r.extra[`${k}_interpretation`] !== 'normal');
    return {
      value,
      data: `${roundTenth(r.values.left_angle.value).toFixed(1)} ${roundTenth(r.values.right_angle.value).toFixed(1)}`,
      reading: reduced.length
        ? `below ${NORBERG_NORMAL_MIN}° (${reduced.join(' and ')}): subluxation or hip dysplasia possible`
        : `both at or above ${NORBERG_NORMAL_MIN}°`,
      readingClass: reduced.length ? 'reduced' : 'normal',
      reference: `Normal at or above ${NORBERG_NORMAL_MIN}° (FCI scheme; schemes differ). Norberg angle: Olsson SE, Adv Small Anim Pract 1961;3:117-118 (to be verified)`,
      panel: `Norberg ${value}`,
    };
  },
  onImage: (r) => ({
    left_acetabular_rim: `L ${roundTenth(r.values.left_angle.value).toFixed(1)}°`,
    right_acetabular_rim: `R ${roundTenth(r.values.right_angle.value).toFixed(1)}°`,
  }),
};

// --------------------------------------------------------------------------- tibial plateau angle
function tpaPoint(id: string, text: string, name: string): GuidedStep {
  return { id, kind: 'point', min: 1, max: 1, text: () => text, label: () => name, name: () => name };
}

const TPA: GuidedSpec = {
  tool: 'tpa',
  button: 'TPA',
  title: 'Tibial plateau angle',
  needsSide: false,
  steps: [
    tpaPoint(
      'plateau_cranial',
      'Mediolateral view of the stifle and tibia (with the tarsus). Click the cranial margin of the medial tibial condyle (the cranial end of the tibial plateau).',
      'Cr plateau',
    ),
    tpaPoint(
      'plateau_caudal',
      'Click the caudal margin of the medial tibial condyle (the caudal end of the tibial plateau, at the insertion of the caudal cruciate ligament).',
      'Cd plateau',
    ),
    tpaPoint(
      'axis_proximal',
      'Functional axis of the tibia: click the proximal point, midway between the intercondylar eminences (tubercles).',
      'Eminences',
    ),
    tpaPoint('axis_distal', 'Click the distal point of the functional axis: the centre of the talus.', 'Talus centre'),
  ],
  pointSet: (c) => ({
    plateau: [one(c.plateau_cranial), one(c.plateau_caudal)],
    axis: [one(c.axis_proximal), one(c.axis_distal)],
  }),
  partsOf: (p) => {
    const plateau = pointList(p.plateau, 2, 2);
    const axis = pointList(p.axis, 2, 2);
    if (!plateau || !axis) return undefined;
    return {
      collected: {
        plateau_cranial: [plateau[0]],
        plateau_caudal: [plateau[1]],
        axis_proximal: [axis[0]],
        axis_distal: [axis[1]],
      },
      options: {},
    };
  },
  describe: (r) => {
    const tpa = roundTenth(r.values.tpa.value);
    const value = `TPA ${tpa.toFixed(1)}°`;
    return {
      value,
      data: tpa.toFixed(1),
      reading:
        tpa < 0
          ? 'negative: the caudal margin lies proximal to the perpendicular of the axis'
          : 'the plateau slopes caudodistally (usual breed means about 22-39°)',
      readingClass: tpa < 0 ? 'negative' : 'positive',
      reference:
        'Angle between the plateau and the perpendicular to the functional axis (Slocum B, Devine T. JAVMA 1983;183(4):456-459; Slocum B, Slocum TD. Vet Clin North Am Small Anim Pract 1993;23(4):777-795)',
      panel: value,
    };
  },
  onImage: (r) => ({ plateau_caudal: `TPA ${roundTenth(r.values.tpa.value).toFixed(1)}°` }),
};

// --------------------------------------------------------------------------- distraction index
const DI_TIGHT = 0.3;

const DI: GuidedSpec = {
  tool: 'distraction_index',
  button: 'DI',
  title: 'Distraction index (PennHIP)',
  needsSide: true,
  steps: [
    {
      id: 'femoral_head_rim',
      kind: 'points',
      min: 3,
      done: 'Rim done',
      circle: true,
      text: (o) =>
        `PennHIP distraction view, ${sideWord(o)} hip. Click 3 or more points on the rim of the femoral head, ` +
        'spread over at least a third of its circumference, then press "Rim done".',
      label: (o) => `${L(o)} femoral head`,
      name: (i, o) => `${L(o)} head rim ${i + 1}`,
    },
    {
      id: 'acetabulum_rim',
      kind: 'points',
      min: 3,
      done: 'Rim done',
      circle: true,
      text: (o) =>
        `Click 3 or more points along the ${sideWord(o)} acetabulum's articular margin (the curved subchondral line ` +
        'of the cranial and dorsal acetabular rim), then press "Rim done".',
      label: (o) => `${L(o)} acetabulum`,
      name: (i, o) => `${L(o)} acetabulum ${i + 1}`,
    },
  ],
  pointSet: (c, o) => ({
    femoral_head_rim: rounded(c.femoral_head_rim),
    acetabulum_rim: rounded(c.acetabulum_rim),
    ...(o.side ? { side: o.side } : {}),
  }),
  partsOf: (p) => {
    const head = pointList(p.femoral_head_rim, 3);
    const acetabulum = pointList(p.acetabulum_rim, 3);
    if (!head || !acetabulum) return undefined;
    const side = p.side === 'left' || p.side === 'right' ? p.side : undefined;
    return { collected: { femoral_head_rim: head, acetabulum_rim: acetabulum }, options: side ? { side } : {} };
  },
  describe: (r) => {
    const di = roundHundredth(r.values.di.value);
    const side = String(r.extra.side ?? '');
    const value = `DI ${di.toFixed(2)}${side ? ` (${side})` : ''}`;
    const tight = di < DI_TIGHT;
    return {
      value,
      data: di.toFixed(2),
      reading: tight
        ? `below ${DI_TIGHT.toFixed(2)}: tight hip`
        : `${DI_TIGHT.toFixed(2)} or more: passive hip laxity (the risk of osteoarthritis rises with the DI)`,
      readingClass: tight ? 'tight' : 'lax',
      reference:
        'DI = distance between the centres of the femoral head and the acetabulum / femoral head radius (Smith GK, Biery DN, Gregor TP. JAVMA 1990;196(1):59-70)',
      panel: `${value} · ${tight ? 'tight' : 'lax'}`,
    };
  },
  onImage: (r) => ({ acetabulum_rim: `DI ${roundHundredth(r.values.di.value).toFixed(2)}` }),
};

export const GUIDED_SPECS: Record<GuidedTool, GuidedSpec> = {
  vlas: VLAS,
  norberg: NORBERG,
  tpa: TPA,
  distraction_index: DI,
};

export function isGuidedTool(tool: string): tool is GuidedTool {
  return tool in GUIDED_SPECS;
}

// --------------------------------------------------------------------------- progression
/** How many points a step holds when complete (a line: 2, a point: 1, points: its max if any). */
export function isStepComplete(step: GuidedStep, count: number, closed: boolean): boolean {
  if (step.kind === 'point') return count >= 1;
  if (step.kind === 'line') return count >= 2;
  if (step.max !== undefined && count >= step.max) return true;
  return closed && count >= step.min;
}

/**
 * The index of the current step: the first one not complete, or -1 when every step is. `counts`
 * gives the points of each step so far; `closed` the `points` steps ended with their button.
 */
export function currentStep(spec: GuidedSpec, counts: Record<string, number>, closed: ReadonlySet<string>): number {
  return spec.steps.findIndex((s) => !isStepComplete(s, counts[s.id] ?? 0, closed.has(s.id)));
}

/** Whether the step's button ("Rim done", "Ladder done") may be pressed now. */
export function canClose(step: GuidedStep, count: number): boolean {
  return step.kind === 'points' && step.done !== undefined && count >= step.min;
}

/** The tool a step is marked with: one click per landmark, or a drag for a line. */
export function stepTool(step: GuidedStep): 'point' | 'line' {
  return step.kind === 'line' ? 'line' : 'point';
}
