/**
 * Veterinary orientation labels and projection names (issue 6, item 3). Pure functions; main.ts
 * feeds them the header and the viewport's screen axes.
 *
 * DICOM PS3.3 C.7.6.1.1.1 (Patient Orientation): when Anatomical Orientation Type (0010,2210) is
 * QUADRUPED, directions are LE left, RT right, D dorsal, V ventral, CR cranial, CD caudal,
 * R rostral, M medial, L lateral, PR proximal, DI distal, PA palmar, PL plantar (note: R is
 * rostral and L lateral, unlike the human R/L). C.7.6.2.1.1: for QUADRUPED the patient axes are
 * +x to the animal's left, +y dorsal, +z cranial (the human L, P, H).
 */

export const QUADRUPED_WORDS: Record<string, string> = {
  LE: 'Left',
  RT: 'Right',
  D: 'Dorsal',
  V: 'Ventral',
  CR: 'Cranial',
  CD: 'Caudal',
  R: 'Rostral',
  M: 'Medial',
  L: 'Lateral',
  PR: 'Proximal',
  DI: 'Distal',
  PA: 'Palmar',
  PL: 'Plantar',
};

export const BIPED_WORDS: Record<string, string> = {
  L: 'Left',
  R: 'Right',
  A: 'Anterior',
  P: 'Posterior',
  H: 'Head',
  F: 'Foot',
};

/** The opposite of each quadruped direction (rostral's and caudal's opposite is taken as cranial). */
const QUADRUPED_OPPOSITE: Record<string, string> = {
  LE: 'RT',
  RT: 'LE',
  D: 'V',
  V: 'D',
  CR: 'CD',
  CD: 'CR',
  R: 'CD',
  M: 'L',
  L: 'M',
  PR: 'DI',
  DI: 'PR',
  PA: 'D',
  PL: 'D',
};

const BIPED_OPPOSITE: Record<string, string> = { L: 'R', R: 'L', A: 'P', P: 'A', H: 'F', F: 'H' };

export type Scheme = 'QUADRUPED' | 'BIPED';

/** A direction: one or more codes, strongest first (e.g. ['CR', 'D'] = craniodorsal). */
export type Direction = string[];

export function schemeOf(anatomicalOrientationType: string | undefined): Scheme {
  return (anatomicalOrientationType ?? '').trim().toUpperCase() === 'QUADRUPED' ? 'QUADRUPED' : 'BIPED';
}

/** Split one Patient Orientation value ("CRD", "LE", "PA") into codes; undefined if not valid. */
export function parseDirection(value: string, scheme: Scheme): Direction | undefined {
  const words = scheme === 'QUADRUPED' ? QUADRUPED_WORDS : BIPED_WORDS;
  const text = value.trim().toUpperCase();
  if (!text) return undefined;
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const two = text.slice(i, i + 2);
    if (two.length === 2 && two in words) {
      out.push(two);
      i += 2;
    } else if (text[i] in words) {
      out.push(text[i]);
      i += 1;
    } else return undefined;
  }
  return out;
}

export function opposite(direction: Direction, scheme: Scheme): Direction {
  const table = scheme === 'QUADRUPED' ? QUADRUPED_OPPOSITE : BIPED_OPPOSITE;
  return direction.map((c) => table[c] ?? c);
}

/** Codes of a patient-space vector (x, y, z): components above `threshold`, strongest first. */
export function directionOfVector(v: readonly number[], scheme: Scheme, threshold = 0.1): Direction {
  const axes =
    scheme === 'QUADRUPED'
      ? [
          ['RT', 'LE'],
          ['V', 'D'],
          ['CD', 'CR'],
        ]
      : [
          ['R', 'L'],
          ['A', 'P'],
          ['F', 'H'],
        ];
  const norm = Math.hypot(v[0], v[1], v[2]) || 1;
  return [0, 1, 2]
    .map((i) => ({ i, c: v[i] / norm }))
    .filter(({ c }) => Math.abs(c) > threshold)
    .sort((a, b) => Math.abs(b.c) - Math.abs(a.c))
    .map(({ i, c }) => axes[i][c > 0 ? 1 : 0]);
}

/**
 * The direction of an image-space vector (a along the rows, b down the columns) given the row and
 * column directions of Patient Orientation; components above `threshold`, strongest first.
 */
export function directionInImage(
  a: number,
  b: number,
  rows: Direction,
  columns: Direction,
  scheme: Scheme,
  threshold = 0.1,
): Direction {
  const norm = Math.hypot(a, b) || 1;
  const parts = [
    { m: a / norm, d: rows },
    { m: b / norm, d: columns },
  ]
    .filter(({ m }) => Math.abs(m) > threshold)
    .sort((x, y) => Math.abs(y.m) - Math.abs(x.m));
  const out: string[] = [];
  for (const { m, d } of parts) {
    for (const code of m > 0 ? d : opposite(d, scheme)) if (!out.includes(code)) out.push(code);
  }
  return out;
}

export interface EdgeLabel {
  text: string; // "CR", "CRD"
  title: string; // "Cranial", "Cranial-dorsal"
}

export function label(direction: Direction, scheme: Scheme): EdgeLabel {
  const words = scheme === 'QUADRUPED' ? QUADRUPED_WORDS : BIPED_WORDS;
  return { text: direction.join(''), title: direction.map((c) => words[c] ?? c).join('-') };
}

export interface OrientationSource {
  scheme: Scheme;
  /** Image Orientation (Patient): row and column direction cosines, when present. */
  iop?: number[];
  /** Patient Orientation: row and column directions, when present and valid. */
  patientOrientation?: [Direction, Direction];
}

/** What the header says about orientation (IOP first, else Patient Orientation), or undefined. */
export function orientationSource(
  anatomicalOrientationType: string | undefined,
  iop: number[] | undefined,
  patientOrientation: string[] | undefined,
): OrientationSource | undefined {
  const scheme = schemeOf(anatomicalOrientationType);
  if (iop && iop.length === 6 && iop.every(Number.isFinite)) return { scheme, iop };
  if (patientOrientation && patientOrientation.length === 2) {
    const rows = parseDirection(patientOrientation[0], scheme);
    const columns = parseDirection(patientOrientation[1], scheme);
    if (rows && columns) return { scheme, patientOrientation: [rows, columns] };
  }
  return undefined;
}

export interface ScreenAxes {
  /** Screen right and screen down, in image index space ([column, row] deltas). */
  rightInImage: [number, number];
  downInImage: [number, number];
  /** The same in patient space (x, y, z), when the image has IOP. */
  rightInPatient?: [number, number, number];
  downInPatient?: [number, number, number];
}

export interface EdgeLabels {
  left: EdgeLabel;
  right: EdgeLabel;
  top: EdgeLabel;
  bottom: EdgeLabel;
}

const neg = <T extends number[]>(v: T): T => v.map((x) => -x) as T;

/** The labels at the four edges of the viewport, after any rotation or flip (given by `axes`). */
export function edgeLabels(source: OrientationSource, axes: ScreenAxes): EdgeLabels | undefined {
  const { scheme } = source;
  let dir: (screen: 'right' | 'down', sign: 1 | -1) => Direction;
  if (source.iop && axes.rightInPatient && axes.downInPatient) {
    const r = axes.rightInPatient;
    const d = axes.downInPatient;
    dir = (s, sign) => directionOfVector(sign > 0 ? (s === 'right' ? r : d) : neg(s === 'right' ? r : d), scheme);
  } else if (source.iop) {
    // Patient vector of an image-space delta: column delta along the row cosines, row delta along the column cosines.
    const iop = source.iop;
    const toPatient = ([a, b]: [number, number]): number[] => [0, 1, 2].map((i) => a * iop[i] + b * iop[3 + i]);
    dir = (s, sign) => {
      const v = toPatient(s === 'right' ? axes.rightInImage : axes.downInImage);
      return directionOfVector(sign > 0 ? v : neg(v), scheme);
    };
  } else if (source.patientOrientation) {
    const [rows, columns] = source.patientOrientation;
    dir = (s, sign) => {
      const [a, b] = s === 'right' ? axes.rightInImage : axes.downInImage;
      return directionInImage(sign * a, sign * b, rows, columns, scheme);
    };
  } else return undefined;
  return {
    right: label(dir('right', 1), scheme),
    left: label(dir('right', -1), scheme),
    bottom: label(dir('down', 1), scheme),
    top: label(dir('down', -1), scheme),
  };
}

// --------------------------------------------------------------------------- projection names
export interface ProjectionInput {
  scheme: Scheme;
  /** Code Meaning of View Code Sequence (0054,0220), if any. */
  viewCodeMeaning?: string;
  /** View Position (0018,5101): AP, PA, LL, RL, RLD, LLD, RLO, LLO. */
  viewPosition?: string;
  /** Body Part Examined (0018,0015). */
  bodyPart?: string;
  /** Image Laterality (0020,0062) or Laterality (0020,0060): R, L, B, U. */
  laterality?: string;
  /** Patient Orientation codes (both values), to recognise limbs. */
  orientationCodes?: string[];
}

export interface Projection {
  text: string; // "VD", "Right lateral", "DPa"
  title: string; // the long form, and where it came from
}

const TRUNK = /^(THORAX|CHEST|ABDOMEN|PELVIS|HIP|WHOLEBODY|SPINE|[CTL]SPINE|LSSPINE|SKULL|HEAD|NECK|TAIL|JAW|TMJ)$/;
const LIMB_PROXIMAL = /^(LIMB|FORELIMB|HINDLIMB|SHOULDER|ARM|HUMERUS|ELBOW|FOREARM|RADIUS|ULNA|FEMUR|THIGH|STIFLE|KNEE|TIBIA|LEG|CRUS)$/;
const LIMB_FORE_DISTAL = /^(CARPUS|WRIST|MANUS|HAND|FOREFOOT|METACARPUS|FOREPAW)$/;
const LIMB_HIND_DISTAL = /^(TARSUS|HOCK|ANKLE|PES|HINDFOOT|METATARSUS|HINDPAW)$/;

/**
 * The veterinary projection name where the header allows it: View Code Sequence's meaning as
 * given; else View Position (human terms in DICOM) translated for a quadruped: on the trunk
 * AP -> VD (beam enters ventrally), PA -> DV, RL/LL -> right/left lateral (that side nearest the
 * detector); on a limb AP -> CrCd (proximal to carpus/tarsus), DPa (fore foot), DPl (hind foot),
 * PA the reverse; a lateral of a limb -> ML or LM from the limb's laterality. Undefined when the
 * header does not say enough.
 */
export function projectionName(input: ProjectionInput): Projection | undefined {
  const meaning = input.viewCodeMeaning?.trim();
  if (meaning) return { text: meaning, title: `${meaning} (View Code Sequence)` };
  const vp = (input.viewPosition ?? '').trim().toUpperCase();
  if (!vp) return undefined;
  const source = `View Position ${vp}`;
  if (input.scheme !== 'QUADRUPED') return { text: vp, title: source };
  const part = (input.bodyPart ?? '').trim().toUpperCase().replace(/\s+/g, '');
  const codes = input.orientationCodes ?? [];
  const palmar = codes.some((c) => c.includes('PA'));
  const plantar = codes.some((c) => c.includes('PL'));
  let region: 'trunk' | 'proximal' | 'fore' | 'hind' | 'limb' | undefined;
  if (TRUNK.test(part)) region = 'trunk';
  else if (LIMB_PROXIMAL.test(part)) region = 'proximal';
  else if (LIMB_FORE_DISTAL.test(part) || (part === 'FOOT' && palmar)) region = 'fore';
  else if (LIMB_HIND_DISTAL.test(part) || (part === 'FOOT' && plantar)) region = 'hind';
  else if (part === 'FOOT' || part === 'PAW') region = palmar ? 'fore' : plantar ? 'hind' : 'limb';
  const lateral = vp === 'RL' || vp === 'LL';
  const side = vp.startsWith('R') ? 'Right' : 'Left';
  if (region === 'trunk' || (region === undefined && !codes.some((c) => /PR|DI|PA|PL|^M$|^L$/.test(c)))) {
    if (region === undefined && !lateral) return { text: vp, title: `${source} (body part not given)` };
    if (vp === 'AP') return { text: 'VD', title: `Ventrodorsal (${source})` };
    if (vp === 'PA') return { text: 'DV', title: `Dorsoventral (${source})` };
    if (lateral) return { text: `${side} lateral`, title: `${side} lateral: ${side.toLowerCase()} side nearest the detector (${source})` };
    return { text: vp, title: source };
  }
  // A limb.
  if (lateral) {
    const limbSide = (input.laterality ?? '').trim().toUpperCase();
    if (limbSide === 'R' || limbSide === 'L') {
      // The limb's lateral side faces the detector when the detector is on the limb's own side.
      const lateralToDetector = (limbSide === 'R') === (vp === 'RL');
      return lateralToDetector
        ? { text: 'ML', title: `Mediolateral (${source}, ${limbSide === 'R' ? 'right' : 'left'} limb)` }
        : { text: 'LM', title: `Lateromedial (${source}, ${limbSide === 'R' ? 'right' : 'left'} limb)` };
    }
    return { text: 'Lateral', title: `${source}; limb laterality not given` };
  }
  const forward = vp === 'AP';
  if (vp !== 'AP' && vp !== 'PA') return { text: vp, title: source };
  if (region === 'proximal') {
    return forward
      ? { text: 'CrCd', title: `Craniocaudal (${source})` }
      : { text: 'CdCr', title: `Caudocranial (${source})` };
  }
  if (region === 'fore') {
    return forward
      ? { text: 'DPa', title: `Dorsopalmar (${source})` }
      : { text: 'PaD', title: `Palmarodorsal (${source})` };
  }
  if (region === 'hind') {
    return forward
      ? { text: 'DPl', title: `Dorsoplantar (${source})` }
      : { text: 'PlD', title: `Plantarodorsal (${source})` };
  }
  return { text: vp, title: `${source}; the level of the limb is not given` };
}
