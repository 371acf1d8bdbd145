import { describe, expect, it } from 'vitest';
import {
  directionOfVector,
  edgeLabels,
  orientationSource,
  parseDirection,
  projectionName,
  type ScreenAxes,
} from '../src/orientation';

const IDENTITY: ScreenAxes = { rightInImage: [1, 0], downInImage: [0, 1] };
// Rotated 90 degrees clockwise: the image's top is now at the screen's right.
const ROTATED_CW: ScreenAxes = { rightInImage: [0, -1], downInImage: [1, 0] };
const FLIP_H: ScreenAxes = { rightInImage: [-1, 0], downInImage: [0, 1] };

const texts = (l: ReturnType<typeof edgeLabels>) => l && [l.left.text, l.right.text, l.top.text, l.bottom.text];

describe('Patient Orientation codes (PS3.3 C.7.6.1.1.1)', () => {
  it('splits quadruped values into codes, two-letter codes first', () => {
    expect(parseDirection('CRD', 'QUADRUPED')).toEqual(['CR', 'D']);
    expect(parseDirection('LE', 'QUADRUPED')).toEqual(['LE']);
    expect(parseDirection('DI', 'QUADRUPED')).toEqual(['DI']);
    expect(parseDirection('PL', 'QUADRUPED')).toEqual(['PL']);
    expect(parseDirection('X', 'QUADRUPED')).toBeUndefined();
    expect(parseDirection('', 'QUADRUPED')).toBeUndefined();
    expect(parseDirection('LE', 'BIPED')).toBeUndefined(); // E is not a human code
    expect(parseDirection('LP', 'BIPED')).toEqual(['L', 'P']);
  });

  it('maps patient axes to quadruped codes: +x left, +y dorsal, +z cranial', () => {
    expect(directionOfVector([1, 0, 0], 'QUADRUPED')).toEqual(['LE']);
    expect(directionOfVector([-1, 0, 0], 'QUADRUPED')).toEqual(['RT']);
    expect(directionOfVector([0, 1, 0], 'QUADRUPED')).toEqual(['D']);
    expect(directionOfVector([0, -1, 0], 'QUADRUPED')).toEqual(['V']);
    expect(directionOfVector([0, 0, 1], 'QUADRUPED')).toEqual(['CR']);
    expect(directionOfVector([0, 0.6, -0.8], 'QUADRUPED')).toEqual(['CD', 'D']);
    expect(directionOfVector([0, 1, 0], 'BIPED')).toEqual(['P']);
  });
});

describe('edge labels', () => {
  it('lateral thorax (rows caudal, columns ventral): CR left, CD right, D top, V bottom', () => {
    const source = orientationSource('QUADRUPED', undefined, ['CD', 'V'])!;
    const labels = edgeLabels(source, IDENTITY)!;
    expect(texts(labels)).toEqual(['CR', 'CD', 'D', 'V']);
    expect(labels.left.title).toBe('Cranial');
    expect(labels.bottom.title).toBe('Ventral');
  });

  it('follows rotation and flips', () => {
    const source = orientationSource('QUADRUPED', undefined, ['CD', 'V'])!;
    // After a clockwise quarter turn the dorsal side (image top) is at the screen's right.
    expect(texts(edgeLabels(source, ROTATED_CW))).toEqual(['V', 'D', 'CR', 'CD']);
    expect(texts(edgeLabels(source, FLIP_H))).toEqual(['CD', 'CR', 'D', 'V']);
  });

  it('VD (rows to the left side, columns caudal) and limbs', () => {
    expect(texts(edgeLabels(orientationSource('QUADRUPED', undefined, ['LE', 'CD'])!, IDENTITY))).toEqual([
      'RT',
      'LE',
      'CR',
      'CD',
    ]);
    // Lateromedial fore foot: rows palmar, columns distal.
    const foot = edgeLabels(orientationSource('QUADRUPED', undefined, ['PA', 'DI'])!, IDENTITY)!;
    expect(texts(foot)).toEqual(['D', 'PA', 'PR', 'DI']);
    expect(foot.right.title).toBe('Palmar');
  });

  it('prefers Image Orientation (Patient) over Patient Orientation', () => {
    // A transverse CT slice: rows to the animal's left, columns dorsal (IOP 1\0\0\0\1\0).
    const source = orientationSource('QUADRUPED', [1, 0, 0, 0, 1, 0], ['RT', 'V'])!;
    expect(source.iop).toBeDefined();
    expect(texts(edgeLabels(source, IDENTITY))).toEqual(['RT', 'LE', 'V', 'D']);
    expect(
      texts(edgeLabels(source, { ...IDENTITY, rightInPatient: [0, 0, 1], downInPatient: [0, -1, 0] })),
    ).toEqual(['CD', 'CR', 'D', 'V']);
  });

  it('human labels without QUADRUPED, none without orientation', () => {
    expect(texts(edgeLabels(orientationSource(undefined, [1, 0, 0, 0, 1, 0], undefined)!, IDENTITY))).toEqual([
      'R',
      'L',
      'A',
      'P',
    ]);
    expect(orientationSource('QUADRUPED', undefined, ['', ''])).toBeUndefined();
    expect(orientationSource('QUADRUPED', undefined, undefined)).toBeUndefined();
  });
});

describe('projection names', () => {
  const q = { scheme: 'QUADRUPED' as const };
  it('View Code Sequence meaning wins', () => {
    expect(projectionName({ ...q, viewCodeMeaning: 'left-right lateral', viewPosition: 'AP' })?.text).toBe(
      'left-right lateral',
    );
  });
  it('trunk: VD, DV, laterals', () => {
    expect(projectionName({ ...q, viewPosition: 'AP', bodyPart: 'THORAX' })?.text).toBe('VD');
    expect(projectionName({ ...q, viewPosition: 'PA', bodyPart: 'HEAD' })?.text).toBe('DV');
    expect(projectionName({ ...q, viewPosition: 'RL', bodyPart: 'THORAX' })?.text).toBe('Right lateral');
    expect(projectionName({ ...q, viewPosition: 'LL', bodyPart: 'ABDOMEN' })?.text).toBe('Left lateral');
  });
  it('limbs: CrCd, DPa, DPl, ML/LM by laterality', () => {
    expect(projectionName({ ...q, viewPosition: 'AP', bodyPart: 'STIFLE' })?.text).toBe('CrCd');
    expect(projectionName({ ...q, viewPosition: 'PA', bodyPart: 'ELBOW' })?.text).toBe('CdCr');
    expect(projectionName({ ...q, viewPosition: 'AP', bodyPart: 'CARPUS' })?.text).toBe('DPa');
    expect(projectionName({ ...q, viewPosition: 'AP', bodyPart: 'TARSUS' })?.text).toBe('DPl');
    const lm = projectionName({ ...q, viewPosition: 'RL', bodyPart: 'FOOT', laterality: 'L', orientationCodes: ['PA', 'DI'] });
    expect(lm?.text).toBe('LM');
    expect(projectionName({ ...q, viewPosition: 'RL', bodyPart: 'STIFLE', laterality: 'R' })?.text).toBe('ML');
  });
  it('says no more than the header allows', () => {
    expect(projectionName({ ...q })).toBeUndefined();
    expect(projectionName({ ...q, viewPosition: 'AP' })?.text).toBe('AP');
    expect(projectionName({ ...q, viewPosition: 'AP', bodyPart: 'FOOT', orientationCodes: ['L', 'DI'] })?.text).toBe('AP');
    expect(projectionName({ scheme: 'BIPED', viewPosition: 'AP', bodyPart: 'THORAX' })?.text).toBe('AP');
  });
});
