import { describe, expect, it } from 'vitest';
import { instanceOf, lengthBody, lengthPoints, type SavedMeasurement } from '../src/saved';

const ID = 'wadors:http://h/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/2';

describe('saved measurements', () => {
  it('reads series, instance and frame from a WADO-RS image id', () => {
    expect(instanceOf(ID)).toEqual({ series: '1.2.3', sop: '1.2.3.4', frame: 2 });
    expect(instanceOf('wadouri:http://h/x.dcm')).toBeUndefined();
  });

  it('builds the create body of a Length in image points, rounded to 0.001 px', () => {
    expect(lengthBody(ID, [10.12345, 20], [30, 40.9999])).toEqual({
      sop_instance_uid: '1.2.3.4',
      frame_number: 2,
      tool: 'length',
      points: { line: [[10.123, 20], [30, 41]] },
    });
  });

  it('accepts only a well-formed saved line', () => {
    const base = { id: 1, points: {} } as unknown as SavedMeasurement;
    expect(lengthPoints({ ...base, points: { line: [[1, 2], [3, 4]] } })).toEqual([[1, 2], [3, 4]]);
    expect(lengthPoints({ ...base, points: { line: [[1, 2]] } })).toBeUndefined();
    expect(lengthPoints({ ...base, points: { line: [[1, 'x'], [3, 4]] } })).toBeUndefined();
  });
});
