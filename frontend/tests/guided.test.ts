/**
 * The guided VLAS, Norberg, TPA and DI specs (src/guided.ts): step progression, the point set
 * built from the collected landmarks (checked against the shared vectors' inputs and outputs,
 * ../tests/data/measurement_vectors.json), the inverse used on reopening, and how results read.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compute, type CalibrationInput } from '../src/geometry';
import {
  GUIDED_SPECS,
  canClose,
  currentStep,
  isGuidedTool,
  roundHundredth,
  stepTool,
  type Collected,
  type GuidedSpec,
} from '../src/guided';

interface Case {
  id: string;
  tool: string;
  input: { points: Record<string, unknown>; calibration?: CalibrationInput | null };
  expected: { values?: Record<string, { value: number; unit: string }>; extra?: Record<string, unknown> };
}

const VECTORS = fileURLToPath(new URL('../../tests/data/measurement_vectors.json', import.meta.url));
const { cases } = JSON.parse(readFileSync(VECTORS, 'utf8')) as { cases: Case[] };
const vector = (id: string): Case => {
  const c = cases.find((x) => x.id === id);
  if (!c) throw new Error(`no vector ${id}`);
  return c;
};

/** Walk a spec's steps with the collected points, as the viewer does (pressing "done" where needed). */
function walk(spec: GuidedSpec, collected: Collected): string[] {
  const counts: Record<string, number> = {};
  const closed = new Set<string>();
  const visited: string[] = [];
  for (;;) {
    const i = currentStep(spec, counts, closed);
    if (i < 0) return visited;
    const step = spec.steps[i];
    visited.push(step.id);
    const want = collected[step.id] ?? [];
    const have = counts[step.id] ?? 0;
    if (have < want.length) counts[step.id] = have + (step.kind === 'line' ? 2 : 1);
    else if (canClose(step, have)) closed.add(step.id);
    else throw new Error(`stuck at ${step.id} with ${have} points`);
  }
}

/** The collected landmarks of a vector's point set (what the user would click, step by step). */
function collectedOf(spec: GuidedSpec, points: Record<string, unknown>): Collected {
  const parts = spec.partsOf(points);
  if (!parts) throw new Error('not a point set of this tool');
  return parts.collected;
}

const round3 = (p: readonly number[]): number[] => p.map((v) => Number(v.toFixed(3)));

describe('guided measurement specs', () => {
  it('knows its tools', () => {
    expect(Object.keys(GUIDED_SPECS).sort()).toEqual(['distraction_index', 'norberg', 'tpa', 'vlas']);
    expect(isGuidedTool('tpa')).toBe(true);
    expect(isGuidedTool('vhs')).toBe(false);
  });

  it('steps through the Norberg angle: rims need 3 points and "Rim done", acetabular rims one click', () => {
    const spec = GUIDED_SPECS.norberg;
    const closed = new Set<string>();
    expect(spec.steps.map((s) => s.id)).toEqual([
      'left_head_rim',
      'left_acetabular_rim',
      'right_head_rim',
      'right_acetabular_rim',
    ]);
    expect(currentStep(spec, {}, closed)).toBe(0);
    expect(canClose(spec.steps[0], 2)).toBe(false);
    expect(canClose(spec.steps[0], 3)).toBe(true);
    expect(currentStep(spec, { left_head_rim: 5 }, closed)).toBe(0); // no max: waits for the button
    closed.add('left_head_rim');
    expect(currentStep(spec, { left_head_rim: 5 }, closed)).toBe(1);
    expect(currentStep(spec, { left_head_rim: 5, left_acetabular_rim: 1 }, closed)).toBe(2);
    closed.add('right_head_rim');
    expect(currentStep(spec, { left_head_rim: 5, left_acetabular_rim: 1, right_head_rim: 2 }, closed)).toBe(2);
    expect(
      currentStep(spec, { left_head_rim: 5, left_acetabular_rim: 1, right_head_rim: 3, right_acetabular_rim: 1 }, closed),
    ).toBe(-1);
    expect(spec.steps[0].name(1, {})).toBe('L head rim 2');
    expect(spec.steps[3].name(0, {})).toBe('R acetabular rim');
    expect(spec.steps.every((s) => stepTool(s) === 'point')).toBe(true);
    expect(spec.steps[1].text({})).toContain('craniodorsal rim of the left acetabulum');
  });

  it('steps through VLAS (ladder, then a line) and TPA (four single clicks)', () => {
    const vlas = GUIDED_SPECS.vlas;
    expect(currentStep(vlas, { ladder: 6 }, new Set())).toBe(0);
    expect(currentStep(vlas, { ladder: 6 }, new Set(['ladder']))).toBe(1);
    expect(stepTool(vlas.steps[1])).toBe('line');
    expect(currentStep(vlas, { ladder: 6, axis: 2 }, new Set(['ladder']))).toBe(-1);
    expect(vlas.steps[0].name(0, {})).toBe('T4');
    expect(vlas.steps[1].text({})).toContain('ventral border of the carina');

    const tpa = GUIDED_SPECS.tpa;
    expect(tpa.steps.map((s) => s.name(0, {}))).toEqual(['Cr plateau', 'Cd plateau', 'Eminences', 'Talus centre']);
    expect(currentStep(tpa, { plateau_cranial: 1, plateau_caudal: 1 }, new Set())).toBe(2);
    expect(tpa.steps[2].text({})).toContain('intercondylar eminences');
    expect(tpa.steps[3].text({})).toContain('centre of the talus');
  });

  it('names the distraction index landmarks after the chosen side', () => {
    const di = GUIDED_SPECS.distraction_index;
    expect(di.needsSide).toBe(true);
    expect(di.steps[0].name(0, { side: 'right' })).toBe('R head rim 1');
    expect(di.steps[1].name(2, { side: 'left' })).toBe('L acetabulum 3');
    expect(di.steps[0].text({ side: 'right' })).toContain('right hip');
    const c = collectedOf(di, vector('distraction-index').input.points);
    expect(di.pointSet(c, {})).not.toHaveProperty('side');
    expect(di.pointSet(c, { side: 'right' }).side).toBe('right');
  });

  const ids: [string, string[]][] = [
    ['vlas-enlarged', ['ladder', 'axis']],
    ['vlas-normal', ['ladder', 'axis']],
    ['norberg-construction', ['left_head_rim', 'left_acetabular_rim', 'right_head_rim', 'right_acetabular_rim']],
    ['tpa-25', ['plateau_cranial', 'plateau_caudal', 'axis_proximal', 'axis_distal']],
    ['tpa-rotated', ['plateau_cranial', 'plateau_caudal', 'axis_proximal', 'axis_distal']],
    ['tpa-negative', ['plateau_cranial', 'plateau_caudal', 'axis_proximal', 'axis_distal']],
    ['distraction-index', ['femoral_head_rim', 'acetabulum_rim']],
  ];
  for (const [id, steps] of ids) {
    it(`the vector ${id}: clicked step by step, it gives the vector's point set and values`, () => {
      const c = vector(id);
      const spec = GUIDED_SPECS[c.tool as keyof typeof GUIDED_SPECS];
      const collected = collectedOf(spec, c.input.points);
      expect([...new Set(walk(spec, collected))]).toEqual(steps);
      const side = c.input.points.side as 'left' | 'right' | undefined;
      const points = spec.pointSet(collected, side ? { side } : {});
      // The same point set (rounded to 0.001 px, as stored).
      expect(Object.keys(points).sort()).toEqual(Object.keys(c.input.points).sort());
      for (const [k, v] of Object.entries(c.input.points)) {
        if (typeof v === 'string') expect(points[k]).toBe(v);
        else if (Array.isArray((v as unknown[])[0])) expect(points[k]).toEqual((v as number[][]).map(round3));
        else expect(points[k]).toEqual(round3(v as number[]));
      }
      const result = compute(c.tool, points, c.input.calibration ?? null);
      for (const [k, q] of Object.entries(c.expected.values ?? {})) {
        expect(result.values[k].unit).toBe(q.unit);
        expect(Math.abs(result.values[k].value - q.value), k).toBeLessThan(1e-3);
      }
      // Reopening: the stored point set gives back the same landmarks and options.
      const again = spec.partsOf(points);
      expect(again?.options).toEqual(side ? { side } : {});
      expect(spec.pointSet(again!.collected, again!.options)).toEqual(points);
    });
  }

  it('describes each result as the guide shows it', () => {
    const run = (id: string) => {
      const c = vector(id);
      const spec = GUIDED_SPECS[c.tool as keyof typeof GUIDED_SPECS];
      return spec.describe(compute(c.tool, c.input.points, c.input.calibration ?? null));
    };
    const enlarged = run('vlas-enlarged');
    expect(enlarged.value).toBe('VLAS 2.3 v');
    expect(enlarged.readingClass).toBe('enlarged');
    expect(enlarged.reading).toContain('left atrial enlargement likely');
    expect(enlarged.reference).toContain('Malcolm');
    expect(run('vlas-normal').panel).toBe('VLAS 2.0 v · normal (cut-off 2.3)');

    const norberg = run('norberg-construction');
    expect(norberg.value).toBe('L 105.0° normal · R 95.0° reduced');
    expect(norberg.data).toBe('105.0 95.0');
    expect(norberg.reading).toBe('below 105° (right): subluxation or hip dysplasia possible');
    expect(norberg.panel).toBe('Norberg L 105.0° normal · R 95.0° reduced');

    expect(run('tpa-25').value).toBe('TPA 25.0°');
    expect(run('tpa-negative').value).toBe('TPA -5.0°');
    expect(run('tpa-negative').readingClass).toBe('negative');

    const di = run('distraction-index');
    expect(di.value).toBe('DI 0.45 (left)'); // 0.4472
    expect(di.data).toBe('0.45');
    expect(di.readingClass).toBe('lax');
    expect(di.panel).toBe('DI 0.45 (left) · lax');
  });

  it('rounds the DI half up to 0.01', () => {
    expect(roundHundredth(0.4472)).toBe(0.45);
    expect(roundHundredth(0.294)).toBe(0.29);
    expect(roundHundredth(0.125)).toBe(0.13);
  });

  it('draws the values beside their landmarks', () => {
    const c = vector('norberg-construction');
    const r = compute('norberg', c.input.points, c.input.calibration ?? null);
    expect(GUIDED_SPECS.norberg.onImage(r)).toEqual({ left_acetabular_rim: 'L 105.0°', right_acetabular_rim: 'R 95.0°' });
    const t = compute('tpa', vector('tpa-25').input.points, null);
    expect(GUIDED_SPECS.tpa.onImage(t)).toEqual({ plateau_caudal: 'TPA 25.0°' });
  });
});
