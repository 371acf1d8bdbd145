import { describe, expect, it } from 'vitest';
import { compute, type Point } from '../src/geometry';
import { axesAngle, breedKey, describeVhs, landmarkName, referenceBreeds, speciesOf, vhsPoints } from '../src/vhs';

describe('guided VHS', () => {
  it('reads the species from Patient Species Description', () => {
    expect(speciesOf('Canine')).toBe('dog');
    expect(speciesOf('Dog')).toBe('dog');
    expect(speciesOf('Canis lupus familiaris')).toBe('dog');
    expect(speciesOf('Feline')).toBe('cat');
    expect(speciesOf('Equine')).toBeUndefined();
    expect(speciesOf('')).toBeUndefined();
  });

  it('finds the breed reference only where one is published', () => {
    expect(breedKey('dog', 'Labrador Retriever')).toBe('labrador_retriever');
    expect(breedKey('dog', 'Cavalier King Charles Spaniel')).toBe('cavalier_king_charles_spaniel');
    expect(breedKey('dog', 'Beagle')).toBe('');
    expect(breedKey('cat', 'Domestic Shorthair')).toBe('');
    expect(referenceBreeds('dog').map(([k]) => k)).toContain('boxer');
    expect(referenceBreeds('cat')).toEqual([]);
    expect(landmarkName(0)).toBe('T4');
    expect(landmarkName(3)).toBe('T7');
  });

  it('computes and describes a VHS built from a 20 px ladder', () => {
    // Ladder T4..T12 every 20 px along the row; long axis 108 px = 5.4 v, short 80 px = 4.0 v.
    const ladder: Point[] = Array.from({ length: 9 }, (_, i) => [10 + 20 * i, 50]);
    const points = vhsPoints({
      species: 'dog',
      breed: 'labrador_retriever',
      ladder,
      long_axis: [[100, 100], [100, 208]],
      short_axis: [[60, 150], [140, 150]],
    });
    expect(points.breed).toBe('labrador_retriever');
    const result = compute('vhs', points, { pixel_spacing: [0.2, 0.2] });
    expect(result.values.vhs.value).toBeCloseTo(9.4, 9);
    const d = describeVhs(result);
    expect(d.score).toBe('VHS 9.4 v');
    expect(d.axes).toBe('long 5.4 v + short 4.0 v');
    expect(d.reading).toBe('below the reference range');
    expect(d.reference).toContain('labrador retriever): 9.6–12.0 v');
    expect(axesAngle([[100, 100], [100, 208]], [[60, 150], [140, 150]])).toBeCloseTo(90, 9);
  });
});
