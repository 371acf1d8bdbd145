/**
 * The measurement and annotation tools of the viewer's toolbar, as pure functions (no Cornerstone,
 * no DOM): which Cornerstone tool is which of our tools (docs/measurements.md), the tool's point set
 * from the annotation's handles in image pixels [column, row] and back (to restore a saved one),
 * the pixel block a region needs for its statistics, and how a Result reads on the image and in the
 * Measurements panel. Every number shown comes from geometry.ts `compute` (or the server's Result).
 */
import { roundTenth, unitLabel, type Point, type Result } from './geometry';

/** Our tool names for the Cornerstone tools (the tool class's toolName). */
export const CS_TOOLS = {
  Length: 'length',
  Angle: 'angle',
  CobbAngle: 'cobb',
  EllipticalROI: 'ellipse_roi',
  RectangleROI: 'rectangle_roi',
  ArrowAnnotate: 'arrow',
  Label: 'text',
  Calibrate: 'calibration',
} as const;

export type CsToolName = keyof typeof CS_TOOLS;
export type ToolName = (typeof CS_TOOLS)[CsToolName];

export function ourTool(csToolName: string | undefined): ToolName | undefined {
  return csToolName && csToolName in CS_TOOLS ? CS_TOOLS[csToolName as CsToolName] : undefined;
}

export function csToolOf(tool: string): CsToolName | undefined {
  return (Object.keys(CS_TOOLS) as CsToolName[]).find((k) => CS_TOOLS[k] === tool);
}

/** How many handles each Cornerstone tool has when finished. */
const HANDLES: Record<ToolName, number> = {
  length: 2,
  angle: 3,
  cobb: 4,
  ellipse_roi: 4,
  rectangle_roi: 4,
  arrow: 2,
  text: 1,
  calibration: 2,
};

/** A point rounded to 0.001 px, as stored. */
export function roundPoint(p: Point): [number, number] {
  return [Number(p[0].toFixed(3)), Number(p[1].toFixed(3))];
}

/** The axis-aligned bounding box [[min column, min row], [max column, max row]] of some points. */
export function boundingCorners(pts: readonly Point[]): [[number, number], [number, number]] {
  const cs = pts.map((p) => p[0]);
  const rs = pts.map((p) => p[1]);
  return [
    [Math.min(...cs), Math.min(...rs)],
    [Math.max(...cs), Math.max(...rs)],
  ];
}

/**
 * The tool's point set (docs/measurements.md) from a finished annotation's handles in image pixels.
 * Cornerstone's handle orders: Angle [arm1, vertex, arm2]; Cobb [line1 a, b, line2 a, b]; ellipse
 * [bottom, top, left, right]; rectangle [top-left, top-right, bottom-left, bottom-right]; arrow
 * [head, tail] (arrowFirst). Our arrow goes from `start` (tail) to `end` (head). A text label
 * (Cornerstone's Label tool) is anchored at its first handle.
 */
export function pointsOf(
  tool: ToolName,
  handles: readonly Point[],
  extra: { known_mm?: number } = {},
): Record<string, unknown> | undefined {
  if (handles.length < HANDLES[tool] || handles.some((p) => !p.every(Number.isFinite))) return undefined;
  const h = handles.map(roundPoint);
  switch (tool) {
    case 'length':
      return { line: [h[0], h[1]] };
    case 'calibration':
      return extra.known_mm === undefined ? undefined : { line: [h[0], h[1]], known_mm: extra.known_mm };
    case 'angle':
      return { arm1: h[0], vertex: h[1], arm2: h[2] };
    case 'cobb':
      return { line1: [h[0], h[1]], line2: [h[2], h[3]] };
    case 'ellipse_roi':
    case 'rectangle_roi':
      return { corners: boundingCorners(h).map(roundPoint) };
    case 'arrow':
      return { start: h[1], end: h[0] };
    case 'text':
      return { anchor: h[0] };
  }
}

function isPoint(v: unknown): v is Point {
  return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function pair(v: unknown): [Point, Point] | undefined {
  return Array.isArray(v) && v.length === 2 && isPoint(v[0]) && isPoint(v[1]) ? [v[0], v[1]] : undefined;
}

/** The Cornerstone handles (image pixels, in the tool's order) of a saved point set; the inverse of pointsOf. */
export function handlesOf(tool: string, points: Record<string, unknown>): Point[] | undefined {
  switch (tool) {
    case 'length':
    case 'calibration':
      return pair(points.line);
    case 'angle':
      return isPoint(points.arm1) && isPoint(points.vertex) && isPoint(points.arm2)
        ? [points.arm1, points.vertex, points.arm2]
        : undefined;
    case 'cobb': {
      const [l1, l2] = [pair(points.line1), pair(points.line2)];
      return l1 && l2 ? [...l1, ...l2] : undefined;
    }
    case 'ellipse_roi':
    case 'rectangle_roi': {
      const c = pair(points.corners);
      if (!c) return undefined;
      const [[c0, r0], [c1, r1]] = boundingCorners(c);
      if (tool === 'rectangle_roi') {
        return [
          [c0, r0],
          [c1, r0],
          [c0, r1],
          [c1, r1],
        ];
      }
      const [cx, cy] = [(c0 + c1) / 2, (r0 + r1) / 2];
      return [
        [cx, r1],
        [cx, r0],
        [c0, cy],
        [c1, cy],
      ];
    }
    case 'arrow':
      return isPoint(points.start) && isPoint(points.end) ? [points.end, points.start] : undefined;
    case 'text':
      return isPoint(points.anchor) ? [points.anchor, points.anchor] : undefined;
    default:
      return undefined;
  }
}

/**
 * The pixel block under a region's box for `compute` (`pixels: {origin, values}`): the pixel
 * centres from ceil(min) to floor(max), clipped to the image, as the server reads its archived
 * frame (measurements/service.py `_roi_pixels`). `valueAt(column, row)` gives the modality value.
 */
export function roiPixels(
  corners: readonly Point[],
  columns: number,
  rows: number,
  valueAt: (column: number, row: number) => number,
): { origin: [number, number]; values: number[][] } {
  const [[minC, minR], [maxC, maxR]] = boundingCorners(corners);
  const c0 = Math.max(0, Math.ceil(minC));
  const c1 = Math.min(columns - 1, Math.floor(maxC));
  const r0 = Math.max(0, Math.ceil(minR));
  const r1 = Math.min(rows - 1, Math.floor(maxR));
  const values: number[][] = [];
  for (let r = r0; r <= r1; r++) {
    const row: number[] = [];
    for (let c = c0; c <= c1; c++) row.push(valueAt(c, r));
    values.push(row);
  }
  return { origin: [c0, r0], values };
}

// --------------------------------------------------------------------------- display
const UNIT_TEXT: Record<string, string> = {
  mm2: 'mm²',
  detector_mm2: 'detector mm²',
  px2: 'px²',
  deg: '°',
  vertebrae: 'v',
  HU: 'HU',
  pixel_value: '',
};

/** A quantity as displayed: rounded half up to 0.1 with its unit ("12.3 mm", "45.0°", "-3.5 HU"). */
export function formatQuantity(q: { value: number; unit: string } | undefined): string {
  if (!q) return '';
  const unit = UNIT_TEXT[q.unit] ?? unitLabel(q.unit);
  const number = roundTenth(q.value).toFixed(1);
  if (unit === '°') return `${number}°`;
  return unit ? `${number} ${unit}` : number;
}

export const TOOL_TITLES: Record<string, string> = {
  length: 'Length',
  angle: 'Angle',
  cobb: 'Cobb',
  ellipse_roi: 'Ellipse',
  rectangle_roi: 'Rectangle',
  arrow: 'Arrow',
  text: 'Text',
  calibration: 'Calibration',
  vhs: 'VHS',
};

/** Tools whose label is their content (arrow, text) or their marker size (calibration). */
const LABEL_IS_CONTENT = new Set(['arrow', 'text', 'calibration']);

/** The lines drawn beside an annotation on the image: a measurement's label (if any) above its value. */
export function imageLines(result: Result, label = ''): string[] {
  const lines = valueLines(result, label);
  return label && !LABEL_IS_CONTENT.has(result.tool) ? [label, ...lines] : lines;
}

/** The Measurements panel's text of one measurement: "Length 12.3 mm", "Length 12.3 mm · “L4”". */
export function panelText(result: Result, label = ''): string {
  const text = valueText(result, label);
  return label && !LABEL_IS_CONTENT.has(result.tool) ? `${text} · “${label}”` : text;
}

function valueLines(result: Result, label: string): string[] {
  const v = result.values;
  switch (result.tool) {
    case 'length':
      return [formatQuantity(v.length)];
    case 'angle':
    case 'cobb':
      return [formatQuantity(v.angle)];
    case 'ellipse_roi':
    case 'rectangle_roi': {
      const lines = [`Area ${formatQuantity(v.area)}`];
      if (v.mean) {
        lines.push(`Mean ${formatQuantity(v.mean)}  SD ${formatQuantity(v.sd)}`);
        lines.push(`Min ${formatQuantity(v.min)}  Max ${formatQuantity(v.max)}`);
      } else if (result.warnings.includes('pixel_statistics_unavailable')) {
        lines.push('(no pixel statistics)');
      }
      return lines;
    }
    case 'calibration':
      return [`Calibration ${label}`.trim()];
    case 'arrow':
      return label ? [label] : [];
    default:
      return [];
  }
}

function valueText(result: Result, label: string): string {
  const title = TOOL_TITLES[result.tool] ?? result.tool;
  const v = result.values;
  switch (result.tool) {
    case 'length':
      return `${title} ${formatQuantity(v.length)}`;
    case 'angle':
    case 'cobb':
      return `${title} ${formatQuantity(v.angle)}`;
    case 'ellipse_roi':
    case 'rectangle_roi': {
      const parts = [`${title} ${formatQuantity(v.area)}`];
      if (v.mean) {
        parts.push(
          `mean ${formatQuantity(v.mean)}`,
          `SD ${formatQuantity(v.sd)}`,
          `min ${formatQuantity(v.min)}`,
          `max ${formatQuantity(v.max)}`,
        );
      }
      return parts.join(' · ');
    }
    case 'calibration':
      return `${title} ${label} (${v.mm_per_pixel.value.toPrecision(4)} mm/px)`;
    case 'arrow':
    case 'text':
      return `${title}: ${label}`;
    default:
      return title;
  }
}
