/**
 * The guided vertebral heart score (dog: Buchanan & Bücheler 1995; cat: Litster & Buchanan 2000),
 * pure parts: the species from the study header, the breed's reference key, the steps of the guide,
 * the point set for geometry.ts `compute('vhs', ...)` and how its Result reads.
 * Definitions: docs/measurements.md "Vertebral heart score".
 */
import { VHS_REFERENCES, compute, roundTenth, type Point, type Result } from './geometry';
import { roundPoint } from './tools-measure';

export type Species = 'dog' | 'cat';

/** dog / cat from Patient Species Description (0010,2201), or undefined (then the viewer asks). */
export function speciesOf(description: string): Species | undefined {
  const d = description.trim().toLowerCase();
  if (/\b(dog|canine|canis)\b/.test(d)) return 'dog';
  if (/\b(cat|feline|felis)\b/.test(d)) return 'cat';
  return undefined;
}

/** The key of a breed in the reference table of the species, or '' (the species' range). */
export function breedKey(species: Species, breed: string): string {
  const key = breed.trim().toLowerCase().replace(/[ -]/g, '_');
  return key && key in VHS_REFERENCES[species] ? key : '';
}

/** The breeds with their own reference range: [key, display name]. */
export function referenceBreeds(species: Species): [string, string][] {
  return Object.keys(VHS_REFERENCES[species])
    .filter((k) => k)
    .map((k) => [k, k.replace(/_/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase())]);
}

/** The name of the n-th ladder landmark (0 = the cranial edge of T4). */
export function landmarkName(index: number): string {
  return `T${4 + index}`;
}

export type VhsStep = 'ladder' | 'long' | 'short' | 'done';

export const STEP_TEXT: Record<Exclude<VhsStep, 'done'>, string> = {
  ladder:
    'Click the cranial edge of T4, then the caudal edge of each vertebra along the spine (T4, T5, T6 ...). ' +
    'Mark at least as many vertebrae as the axes are long (usually 6 or more), then press "Ladder done".',
  long: 'Draw the long axis: from the ventral border of the carina (left main stem bronchus) to the cardiac apex.',
  short: 'Draw the short axis: perpendicular to the long axis, across the widest part of the heart.',
};

export interface VhsInput {
  species: Species;
  breed?: string;
  ladder: Point[];
  long_axis: [Point, Point];
  short_axis: [Point, Point];
}

/** The stored point set of a VHS (docs/measurements.md `vhs`), points rounded to 0.001 px. */
export function vhsPoints(input: VhsInput): Record<string, unknown> {
  const out: Record<string, unknown> = {
    species: input.species,
    ladder: input.ladder.map(roundPoint),
    long_axis: input.long_axis.map(roundPoint),
    short_axis: input.short_axis.map(roundPoint),
  };
  if (input.breed) out.breed = input.breed;
  return out;
}

/** The angle between the two axes (degrees, 0-90): the guide asks for 90. */
export function axesAngle(longAxis: [Point, Point], shortAxis: [Point, Point]): number {
  return compute('cobb', { line1: longAxis, line2: shortAxis }).values.angle.value;
}

interface Reference {
  low: number;
  high: number;
  mean: number;
  sd: number;
  source: string;
  breed: string;
  verify: boolean;
}

const INTERPRETATION: Record<string, string> = {
  below: 'below the reference range',
  within: 'within the reference range',
  above: 'above the reference range (cardiomegaly?)',
};

/** How a VHS Result reads: the score, the axes, the reference range and the interpretation. */
export function describeVhs(result: Result): { score: string; axes: string; reference: string; reading: string } {
  const v = result.values;
  const ref = result.extra.reference as Reference;
  const species = String(result.extra.species);
  const who = ref.breed ? ref.breed.replace(/_/g, ' ') : species;
  return {
    score: `VHS ${roundTenth(v.vhs.value).toFixed(1)} v`,
    axes: `long ${v.long_axis_vertebrae.value.toFixed(1)} v + short ${v.short_axis_vertebrae.value.toFixed(1)} v`,
    reference:
      `Reference (${who}): ${ref.low.toFixed(1)}–${ref.high.toFixed(1)} v ` +
      `(mean ${ref.mean} ± ${ref.sd}; ${ref.source}${ref.verify ? '; to be verified' : ''})`,
    reading: INTERPRETATION[String(result.extra.interpretation)] ?? String(result.extra.interpretation),
  };
}
