import { describe, expect, it } from 'vitest';
import { presetLabel, presetWindow, presetsFor, regionOf } from '../src/presets';

describe('window presets', () => {
  it('keeps the CT presets in Hounsfield units', () => {
    const bone = presetsFor('CT').find((p) => p.name === 'Bone')!;
    expect(presetWindow(bone)).toEqual({ width: 2000, center: 500 });
    expect(presetLabel(bone)).toBe('Bone (2000/500)');
  });

  it('puts the body region first', () => {
    expect(presetsFor('CT', 'CHEST').slice(0, 2).map((p) => p.name)).toEqual(['Thorax', 'Lung']);
    expect(presetsFor('CT', 'skull')[0].name).toBe('Brain');
    expect(presetsFor('DX', 'STIFLE')[0].name).toBe('Bone');
    expect(presetsFor('DX', 'ABDOMEN')[0].name).toBe('Abdomen');
    expect(presetsFor('CT', '').map((p) => p.name)).toEqual(presetsFor('CT').map((p) => p.name));
    expect(presetsFor('US', 'ABDOMEN')).toEqual([]);
  });

  it('knows veterinary and human body part terms', () => {
    expect(regionOf('THORAX')).toBe('thorax');
    expect(regionOf('Chest')).toBe('thorax');
    expect(regionOf('PELVIS')).toBe('bone');
    expect(regionOf('T-SPINE')).toBe('bone');
    expect(regionOf('HOOF')).toBe('bone');
    expect(regionOf('TEETH')).toBe('head');
    expect(regionOf('WHOLEBODY')).toBe('');
  });

  it('derives radiograph windows from the header window', () => {
    const header = { lower: 1000, upper: 3000 }; // width 2000, centre 2000
    const byName = Object.fromEntries(presetsFor('DX').map((p) => [p.name, presetWindow(p, header)]));
    expect(byName['Bone']).toEqual({ width: 1400, center: 2400 });
    expect(byName['Lung']).toEqual({ width: 1400, center: 1600 });
    expect(byName['Soft tissue']).toEqual({ width: 1200, center: 2000 });
    expect(() => presetWindow(presetsFor('DX')[0])).toThrow();
    expect(presetLabel(presetsFor('DX')[0])).toMatch(/relative/);
  });
});
