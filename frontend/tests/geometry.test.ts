/**
 * The geometry module against the shared vectors (../tests/data/measurement_vectors.json, the same
 * file the server's pytest runs; comparison rules in docs/measurements.md), plus the viewer's
 * display helpers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GeometryError, compute, formatLength, calibrationOf, type CalibrationInput } from '../src/geometry';

interface Case {
  id: string;
  tool: string;
  input: { points: unknown; calibration?: CalibrationInput | null };
  expected: {
    error?: string;
    values?: Record<string, { value: number; unit: string }>;
    calibrated?: boolean;
    calibration_source?: string;
    warnings?: string[];
    extra?: unknown;
  };
  tolerance: number;
}

const VECTORS = fileURLToPath(new URL('../../tests/data/measurement_vectors.json', import.meta.url));
const { schema_version, cases } = JSON.parse(readFileSync(VECTORS, 'utf8')) as { schema_version: number; cases: Case[] };

function expectSubset(actual: unknown, expected: unknown, tolerance: number, path: string): void {
  if (typeof expected === 'number') {
    expect(typeof actual, path).toBe('number');
    expect(Math.abs((actual as number) - expected), path).toBeLessThanOrEqual(tolerance);
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, path).toBe(expected.length);
    expected.forEach((e, i) => expectSubset((actual as unknown[])[i], e, tolerance, `${path}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    expect(actual !== null && typeof actual === 'object', path).toBe(true);
    for (const [k, v] of Object.entries(expected)) {
      expectSubset((actual as Record<string, unknown>)[k], v, tolerance, `${path}.${k}`);
    }
  } else {
    expect(actual, path).toBe(expected);
  }
}

describe('shared measurement vectors', () => {
  it('has the schema this module implements', () => {
    expect(schema_version).toBe(1);
    expect(cases.length).toBeGreaterThan(40);
  });

  for (const c of cases) {
    it(c.id, () => {
      const run = () => compute(c.tool, c.input.points, c.input.calibration ?? null);
      if (c.expected.error) {
        let error: unknown;
        try {
          run();
        } catch (e) {
          error = e;
        }
        expect(error, 'expected an error').toBeInstanceOf(GeometryError);
        expect((error as GeometryError).code).toBe(c.expected.error);
        return;
      }
      const result = run();
      for (const [name, want] of Object.entries(c.expected.values ?? {})) {
        const got = result.values[name];
        expect(got, name).toBeDefined();
        expect(got.unit, name).toBe(want.unit);
        expect(Math.abs(got.value - want.value), `${name}: ${got.value} vs ${want.value}`).toBeLessThanOrEqual(c.tolerance);
      }
      expect(result.calibrated).toBe(c.expected.calibrated);
      expect(result.calibration_source).toBe(c.expected.calibration_source);
      expect(result.warnings).toEqual(c.expected.warnings ?? []);
      if (c.expected.extra !== undefined) expectSubset(result.extra, c.expected.extra, c.tolerance, 'extra');
    });
  }
});

describe('display', () => {
  it('labels lengths mm only with Pixel Spacing; Imager Pixel Spacing alone is detector mm', () => {
    expect(formatLength([0, 0], [100, 0], calibrationOf([0.1, 0.1], [0.12, 0.12]))).toBe('10.0 mm');
    expect(formatLength([0, 0], [100, 0], calibrationOf(undefined, [0.15, 0.15]))).toBe('15.0 detector mm');
    expect(formatLength([0, 0], [3, 4], calibrationOf())).toBe('5.0 px');
    // [row, column] spacing: x spans columns, y spans rows; rounding half up
    expect(formatLength([0, 0], [10, 0], calibrationOf([0.1, 0.2]))).toBe('2.0 mm');
    expect(formatLength([0, 0], [0, 25], calibrationOf([0.1, 0.2]))).toBe('2.5 mm');
  });
});
