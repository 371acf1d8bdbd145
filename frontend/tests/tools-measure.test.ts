import { describe, expect, it } from 'vitest';
import { compute, type Point } from '../src/geometry';
import { measurementBody } from '../src/saved';
import {
  boundingCorners,
  csToolOf,
  formatQuantity,
  handlesOf,
  imageLines,
  ourTool,
  panelText,
  pointsOf,
  roiPixels,
  type ToolName,
} from '../src/tools-measure';

const ID = 'wadors:http://h/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/1';

describe('toolbar tools and our tool names', () => {
  it('maps Cornerstone tools to ours and back', () => {
    expect(ourTool('Angle')).toBe('angle');
    expect(ourTool('CobbAngle')).toBe('cobb');
    expect(ourTool('EllipticalROI')).toBe('ellipse_roi');
    expect(ourTool('Probe')).toBeUndefined();
    expect(csToolOf('rectangle_roi')).toBe('RectangleROI');
    expect(csToolOf('arrow')).toBe('ArrowAnnotate');
    expect(csToolOf('text')).toBe('Label');
    expect(ourTool('Label')).toBe('text');
    expect(csToolOf('vhs')).toBeUndefined();
  });

  it('reads the point sets of docs/measurements.md from Cornerstone handles', () => {
    expect(pointsOf('angle', [[10, 0], [0, 0], [0, 10]])).toEqual({ arm1: [10, 0], vertex: [0, 0], arm2: [0, 10] });
    expect(pointsOf('cobb', [[0, 0], [10, 0], [0, 0], [10, 10]])).toEqual({
      line1: [[0, 0], [10, 0]],
      line2: [[0, 0], [10, 10]],
    });
    // Ellipse handles are [bottom, top, left, right]; the stored corners are its bounding box.
    expect(pointsOf('ellipse_roi', [[15, 30], [15, 10], [5, 20], [25, 20]])).toEqual({ corners: [[5, 10], [25, 30]] });
    expect(pointsOf('rectangle_roi', [[5, 10], [25, 10], [5, 30], [25, 30]])).toEqual({ corners: [[5, 10], [25, 30]] });
    // Arrow handles are [head, tail]: start is the tail, end the head.
    expect(pointsOf('arrow', [[1, 2], [3, 4]])).toEqual({ start: [3, 4], end: [1, 2] });
    // A text label without an arrow is anchored at its first handle.
    expect(pointsOf('text', [[7.5, 8.25]])).toEqual({ anchor: [7.5, 8.25] });
    expect(handlesOf('text', { anchor: [7.5, 8.25] })).toEqual([[7.5, 8.25], [7.5, 8.25]]);
    expect(handlesOf('text', { anchor: [7.5] })).toBeUndefined();
    expect(pointsOf('calibration', [[0, 0], [100, 0]])).toBeUndefined();
    expect(pointsOf('calibration', [[0, 0], [100, 0]], { known_mm: 25 })).toEqual({ line: [[0, 0], [100, 0]], known_mm: 25 });
    expect(pointsOf('angle', [[10, 0], [0, 0]])).toBeUndefined();
    expect(pointsOf('length', [[0.12345, 1], [2, 3.00049]])).toEqual({ line: [[0.123, 1], [2, 3]] });
  });

  it('rebuilds the handles of every tool from its stored points (round trip)', () => {
    const cases: [ToolName, Point[]][] = [
      ['length', [[1, 2], [30, 40]]],
      ['angle', [[10, 0], [0, 0], [0, 10]]],
      ['cobb', [[0, 0], [10, 0], [0, 5], [10, 10]]],
      ['ellipse_roi', [[15, 30], [15, 10], [5, 20], [25, 20]]],
      ['rectangle_roi', [[5, 10], [25, 10], [5, 30], [25, 30]]],
      ['arrow', [[1, 2], [3, 4]]],
    ];
    for (const [tool, handles] of cases) {
      const points = pointsOf(tool, handles)!;
      expect(handlesOf(tool, points), tool).toEqual(handles);
    }
    expect(handlesOf('angle', { arm1: [0, 0], vertex: [1, 'x'], arm2: [2, 2] })).toBeUndefined();
    expect(handlesOf('circle', { rim: [] })).toBeUndefined();
  });

  it('reads the pixel block under a region like the server (ceil/floor, clipped)', () => {
    const block = roiPixels([[-0.5, 1.2], [2.5, 3]], 3, 10, (c, r) => 10 * r + c);
    expect(block).toEqual({ origin: [0, 2], values: [[20, 21, 22], [30, 31, 32]] });
    expect(boundingCorners([[3, 1], [1, 4]])).toEqual([[1, 1], [3, 4]]);
  });

  it('shows region statistics from compute in the modality unit', () => {
    const corners: Point[] = [[0, 0], [2, 1]];
    const pixels = roiPixels(corners, 10, 10, (c, r) => (r === 0 ? -100 : 100) + c);
    const result = compute('rectangle_roi', { corners, pixels, value_unit: 'HU' }, { pixel_spacing: [0.5, 0.5] });
    expect(result.values.mean.value).toBeCloseTo(1, 9);
    expect(imageLines(result)).toEqual(['Area 0.5 mm²', 'Mean 1.0 HU  SD 100.0 HU', 'Min -100.0 HU  Max 102.0 HU']);
    expect(panelText(result)).toBe('Rectangle 0.5 mm² · mean 1.0 HU · SD 100.0 HU · min -100.0 HU · max 102.0 HU');
  });

  it('labels units by the calibration rules', () => {
    expect(formatQuantity({ value: 12.25, unit: 'mm' })).toBe('12.3 mm');
    expect(formatQuantity({ value: 12.25, unit: 'detector_mm' })).toBe('12.3 detector mm');
    expect(formatQuantity({ value: 3, unit: 'px2' })).toBe('3.0 px²');
    expect(formatQuantity({ value: 44.96, unit: 'deg' })).toBe('45.0°');
    const angle = compute('angle', { arm1: [10, 0], vertex: [0, 0], arm2: [10, 10] });
    expect(panelText(angle)).toBe('Angle 45.0°');
    const cal = compute('calibration', { line: [[0, 0], [100, 0]], known_mm: 25 });
    expect(panelText(cal, '25 mm')).toBe('Calibration 25 mm (0.2500 mm/px)');
    const user = compute('length', { line: [[0, 0], [40, 0]] }, { user: { line: [[0, 0], [100, 0]], known_mm: 25 } });
    expect(panelText(user)).toBe('Length 10.0 mm');
  });

  it('builds create bodies without pixels, with label, calibration and our value', () => {
    const body = measurementBody(ID, 'rectangle_roi', { corners: [[0, 0], [1, 1]], pixels: { origin: [0, 0], values: [] }, value_unit: 'HU' }, {
      label: 'liver',
      calibration: { line: [[0, 0], [1, 0]], known_mm: 2 },
      value: { tool: 'rectangle_roi' },
    });
    expect(body).toEqual({
      sop_instance_uid: '1.2.3.4',
      frame_number: 1,
      tool: 'rectangle_roi',
      points: { corners: [[0, 0], [1, 1]] },
      label: 'liver',
      calibration: { line: [[0, 0], [1, 0]], known_mm: 2 },
      value: { tool: 'rectangle_roi' },
    });
    expect(measurementBody('wadouri:x', 'length', {})).toBeUndefined();
  });
});

describe('measurement labels', () => {
  it('shows a label above the value and in the panel, except where the label is the content', async () => {
    const { compute } = await import('../src/geometry');
    const { imageLines, panelText } = await import('../src/tools-measure');
    const length = compute('length', { line: [[0, 0], [30, 40]] }, { pixel_spacing: [0.5, 0.5] });
    expect(imageLines(length, 'L4')).toEqual(['L4', '25.0 mm']);
    expect(panelText(length, 'L4')).toBe('Length 25.0 mm · “L4”');
    expect(panelText(length)).toBe('Length 25.0 mm');
    const arrow = compute('arrow', { start: [0, 0], end: [1, 1] });
    expect(imageLines(arrow, 'fracture?')).toEqual(['fracture?']);
    expect(panelText(arrow, 'fracture?')).toBe('Arrow: fracture?');
  });
});
