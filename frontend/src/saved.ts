/**
 * Measurements kept on the server as the user works (docs/measurements.md, docs/viewer.md):
 * a finished measurement (length, angle, Cobb, regions, arrow, calibration, VHS) is POSTed to
 * /api/v1/studies/{study}/measurements, a changed one PATCHed (after the drag settles), a deleted
 * one DELETEd; reopening the study restores them into Cornerstone's annotation state. The server
 * recomputes every value from the points; the viewer shows its own unless the server corrected it
 * (`value_corrected`), then the server's.
 *
 * Pure parts (imageId parsing, request bodies) are exported for the unit tests.
 */

import { keyImageBody, type ExportResult, type KeyImageRow } from './keyimages';

export const API = '/api/v1';

export interface SavedMeasurement {
  id: number;
  study_instance_uid: string;
  series_instance_uid: string;
  sop_instance_uid: string;
  frame_number: number;
  username: string;
  tool: string;
  label: string;
  points: Record<string, unknown>;
  calibration?: { line: unknown; known_mm: unknown } | null;
  value: Record<string, unknown>;
  value_corrected?: boolean;
}

/** Our tool names (docs/measurements.md) for the Cornerstone tools the viewer saves. */
export const SAVED_TOOLS: Record<string, string> = {
  Length: 'length',
  Angle: 'angle',
  CobbAngle: 'cobb',
  EllipticalROI: 'ellipse_roi',
  RectangleROI: 'rectangle_roi',
  ArrowAnnotate: 'arrow',
  Label: 'text',
  Calibrate: 'calibration',
};

/** `wadors:.../series/{series}/instances/{sop}/frames/{n}` -> its series, SOP Instance UID and frame. */
export function instanceOf(imageId: string): { series: string; sop: string; frame: number } | undefined {
  const m = /\/series\/([^/]+)\/instances\/([^/]+)\/frames\/(\d+)$/.exec(imageId);
  if (!m) return undefined;
  return { series: decodeURIComponent(m[1]), sop: decodeURIComponent(m[2]), frame: Number(m[3]) };
}

type Point = readonly [number, number];

/** The create body for a Length between two image points ([column, row]). */
export function lengthBody(imageId: string, a: Point, b: Point): Record<string, unknown> | undefined {
  const where = instanceOf(imageId);
  if (!where) return undefined;
  const round = (p: Point): [number, number] => [Number(p[0].toFixed(3)), Number(p[1].toFixed(3))];
  return {
    sop_instance_uid: where.sop,
    frame_number: where.frame,
    tool: 'length',
    points: { line: [round(a), round(b)] },
  };
}

export interface BodyOptions {
  label?: string;
  /** The user calibration of the image ({line, known_mm}), sent with every measurement made on it. */
  calibration?: { line: unknown; known_mm: unknown } | null;
  /** The value the viewer computed (Result JSON); the server compares it and flags a disagreement. */
  value?: unknown;
}

/** The create body of any tool: its point set (image pixels) without `pixels` (the server reads its own). */
export function measurementBody(
  imageId: string,
  tool: string,
  points: Record<string, unknown>,
  options: BodyOptions = {},
): Record<string, unknown> | undefined {
  const where = instanceOf(imageId);
  if (!where) return undefined;
  const { pixels: _pixels, value_unit: _unit, ...stored } = points;
  const body: Record<string, unknown> = {
    sop_instance_uid: where.sop,
    frame_number: where.frame,
    tool,
    points: stored,
  };
  if (options.label) body.label = options.label;
  if (options.calibration) body.calibration = options.calibration;
  if (options.value !== undefined) body.value = options.value;
  return body;
}

/** The two image points of a saved Length, if well formed. */
export function lengthPoints(saved: SavedMeasurement): [Point, Point] | undefined {
  const line = saved.points.line;
  if (!Array.isArray(line) || line.length !== 2) return undefined;
  const ok = (p: unknown): p is Point =>
    Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number' && Number.isFinite(v));
  return ok(line[0]) && ok(line[1]) ? [line[0], line[1]] : undefined;
}

const HEADERS = { 'X-Requested-With': 'XMLHttpRequest', Accept: 'application/json' } as const;

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(API + path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? HEADERS : { ...HEADERS, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try {
      detail = ((await response.json()) as { detail?: string }).detail ?? detail;
    } catch {
      /* keep the status */
    }
    throw new Error(detail);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

export const measurementsApi = {
  list: (study: string, allUsers = false): Promise<{ measurements: SavedMeasurement[]; key_images?: KeyImageRow[] }> =>
    call('GET', `/studies/${encodeURIComponent(study)}/measurements${allUsers ? '?all_users=true' : ''}`),
  create: (study: string, body: Record<string, unknown>): Promise<SavedMeasurement> =>
    call('POST', `/studies/${encodeURIComponent(study)}/measurements`, body),
  update: (id: number, body: Record<string, unknown>): Promise<SavedMeasurement> =>
    call('PATCH', `/measurements/${id}`, body),
  remove: (id: number): Promise<void> => call('DELETE', `/measurements/${id}`),
  /** Flag (or unflag) one frame of an instance as a key image. */
  keyImage: (sop: string, frame: number, flagged: boolean): Promise<KeyImageRow> =>
    call('POST', `/instances/${encodeURIComponent(sop)}/key-image`, keyImageBody(frame, flagged)),
  /** Store a TID 1500 SR and a presentation state of the caller's measurements in the study. */
  exportStudy: (study: string): Promise<ExportResult> =>
    call('POST', `/studies/${encodeURIComponent(study)}/measurements/export`, {}),
};
