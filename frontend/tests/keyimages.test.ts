import { describe, expect, it } from 'vitest';
import { countBySeries, describeExport, flaggedKeys, keyImageBody, keyOf } from '../src/keyimages';

describe('key images', () => {
  it('keeps only flagged frames', () => {
    const keys = flaggedKeys([
      { sop_instance_uid: '1.2.3', frame_number: 1, flagged: true },
      { sop_instance_uid: '1.2.4', frame_number: 2, flagged: false },
      { sop_instance_uid: '1.2.5', frame_number: 3, flagged: true },
    ]);
    expect([...keys].sort()).toEqual([keyOf('1.2.3', 1), keyOf('1.2.5', 3)]);
    expect(flaggedKeys(undefined).size).toBe(0);
  });

  it('counts flagged frames per series', () => {
    const series: Record<string, string> = { a: 'S1', b: 'S1', c: 'S2' };
    const counts = countBySeries(new Set([keyOf('a', 1), keyOf('a', 2), keyOf('b', 1), keyOf('c', 1), keyOf('x', 1)]), (sop) => series[sop]);
    expect(Object.fromEntries(counts)).toEqual({ S1: 3, S2: 1 });
  });

  it('builds the request body and refuses a frame below 1', () => {
    expect(keyImageBody(2, true)).toEqual({ frame_number: 2, flagged: true });
    expect(() => keyImageBody(0, true)).toThrow(RangeError);
  });

  it('describes an export', () => {
    const text = describeExport({
      sop_instance_uid: '2.25.1',
      series_instance_uid: '2.25.2',
      sop_class_uid: '1.2.840.10008.5.1.4.1.1.88.33',
      measurement_count: 3,
      status: 'stored',
      presentation_state_uid: '2.25.3',
      presentation_series_uid: '2.25.4',
    });
    expect(text).toBe('Exported 3 measurements: SR 2.25.1 (series 2.25.2), presentation state 2.25.3');
  });
});

describe('stepping through key images', () => {
  const order = ['S1', 'S2'];
  const stops = [
    { series: 'S1', index: 2 },
    { series: 'S1', index: 5 },
    { series: 'S2', index: 0 },
  ];
  it('goes to the next and previous stop in reading order, wrapping around', async () => {
    const { stepKeyImage } = await import('../src/keyimages');
    expect(stepKeyImage(stops, order, { series: 'S1', index: 0 }, 1)).toEqual(stops[0]);
    expect(stepKeyImage(stops, order, { series: 'S1', index: 2 }, 1)).toEqual(stops[1]);
    expect(stepKeyImage(stops, order, { series: 'S1', index: 3 }, 1)).toEqual(stops[1]);
    expect(stepKeyImage(stops, order, { series: 'S1', index: 5 }, 1)).toEqual(stops[2]);
    expect(stepKeyImage(stops, order, { series: 'S2', index: 0 }, 1)).toEqual(stops[0]);
    expect(stepKeyImage(stops, order, { series: 'S1', index: 3 }, -1)).toEqual(stops[0]);
    expect(stepKeyImage(stops, order, { series: 'S1', index: 2 }, -1)).toEqual(stops[2]);
    expect(stepKeyImage([], order, { series: 'S1', index: 0 }, 1)).toBeUndefined();
  });
});
