/**
 * Measurement values and their rows on the server. Every value shown comes from geometry.ts
 * `compute` on the annotation's points in image pixels (or from the server's Result when the server
 * corrected ours), never from Cornerstone's own stats; a finished measurement is POSTed, a moved one
 * PATCHed half a second after the drag, a deleted one DELETEd (saved.ts).
 */
import { cache, metaData, type Types, utilities as csUtils } from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { type CalibrationInput, compute, type Point, type Result } from './geometry';
import {
  type BodyOptions,
  instanceOf,
  measurementBody,
  measurementsApi,
  SAVED_TOOLS,
  type SavedMeasurement,
} from './saved';
import { ourTool, pointsOf, roiPixels, type ToolName } from './tools-measure';
import { calibrations, renderAll, seriesByUid, setStatus } from './viewer-state';
import { CALIBRATE } from './viewer-tools';

/**
 * Redraw the Measurements panel. viewer-measure-panel.ts binds it (the panel lists what this module,
 * the guides and "Others" hold, so they cannot import it).
 */
export let refreshMeasurementList = (): void => {};

export function bindMeasurementList(render: () => void): void {
  refreshMeasurementList = render;
}

/** The point set and value of a measurement made of several annotations (a VHS, a guided one). */
export interface GroupEvaluation extends Computed {
  points: Record<string, unknown>;
  key: string;
}

type PatchChange = { body: Record<string, unknown>; key: string };

/** Record key prefix ('vhs:', 'guided:') -> what a PATCH of such a group sends now. */
const groupPatches = new Map<string, (groupKey: string) => PatchChange | undefined>();

export function registerGroupPatch(prefix: string, body: (groupKey: string) => PatchChange | undefined): void {
  groupPatches.set(prefix, body);
}

function imagePoint(imageId: string, world: Types.Point3): Point {
  const p = csUtils.worldToImageCoords(imageId, world);
  if (!p) throw new Error('point outside the image plane');
  return [p[0], p[1]];
}

export function handlesOfAnnotation(annotation: csTools.Types.Annotation): Point[] | undefined {
  const imageId = annotation.metadata?.referencedImageId;
  const world = annotation.data?.handles?.points as Types.Point3[] | undefined;
  if (!imageId || !world) return undefined;
  try {
    return world.map((w) => imagePoint(imageId, w));
  } catch {
    return undefined;
  }
}

interface UserCalibration {
  line: [number, number][];
  known_mm: number;
  annotationUID: string;
}

/** imageId -> the user's calibration against a marker on that image (docs/measurements.md). */
export const userCalibrations = new Map<string, UserCalibration>();

export function userCalibrationBody(imageId: string): { line: [number, number][]; known_mm: number } | null {
  const u = userCalibrations.get(imageId);
  return u ? { line: u.line, known_mm: u.known_mm } : null;
}

/** How lengths are measured on an image: the header's spacing, and the user's calibration on top. */
export function calibrationFor(imageId: string): CalibrationInput | null {
  const header = calibrations.get(imageId) ?? null;
  const user = userCalibrationBody(imageId);
  return user ? { ...(header ?? {}), user } : header;
}

/** The modality values (Hounsfield units on CT) of the pixels under a region's box, if loaded. */
function modalityPixels(imageId: string, corners: unknown): { origin: [number, number]; values: number[][] } | undefined {
  const image = cache.getImage(imageId);
  if (!image || image.color || !Array.isArray(corners) || corners.length !== 2) return undefined;
  const data = image.getPixelData();
  if (!data) return undefined;
  const scaled = Boolean(image.preScale?.scaled);
  const slope = image.slope ?? 1;
  const intercept = image.intercept ?? 0;
  return roiPixels(corners as Point[], image.columns, image.rows, (c, r) => {
    const v = data[r * image.columns + c];
    return scaled ? v : v * slope + intercept;
  });
}

function valueUnitOf(imageId: string): string {
  const where = instanceOf(imageId);
  const modality = where ? seriesByUid.get(where.series)?.modality : undefined;
  const lut = metaData.get('modalityLutModule', imageId) as { rescaleType?: string } | undefined;
  return modality === 'CT' || lut?.rescaleType === 'HU' ? 'HU' : 'pixel_value';
}

export interface Computed {
  result?: Result;
  error?: string;
}

const computedCache = new Map<string, Computed>();

export function computeFor(tool: string, imageId: string, points: Record<string, unknown>, key: string): Computed {
  const cacheKey = `${imageId}|${tool}|${key}`;
  const hit = computedCache.get(cacheKey);
  if (hit) return hit;
  const calibration = tool === 'calibration' ? null : calibrationFor(imageId);
  let out: Computed;
  let complete = true;
  try {
    if (tool === 'ellipse_roi' || tool === 'rectangle_roi') {
      const pixels = modalityPixels(imageId, points.corners);
      complete = pixels !== undefined;
      try {
        out = {
          result: compute(tool, pixels ? { ...points, pixels, value_unit: valueUnitOf(imageId) } : points, calibration),
        };
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        // A region too large to hold its values here: its area now, the statistics from the server.
        const area = compute(tool, points, calibration);
        out = { result: { ...area, warnings: [...area.warnings, 'pixel_statistics_unavailable'] } };
      }
    } else {
      out = { result: compute(tool, points, calibration) };
    }
  } catch (e) {
    out = { error: (e as Error).message };
  }
  if (computedCache.size > 500) computedCache.clear();
  if (complete) computedCache.set(cacheKey, out);
  return out;
}

interface Evaluation extends Computed {
  tool: ToolName;
  imageId: string;
  points: Record<string, unknown>;
  calibration: { line: [number, number][]; known_mm: number } | null;
  /** What the value depends on: the points and the user calibration (compared with the server's). */
  key: string;
  handles: Point[];
}

export function evaluate(annotation: csTools.Types.Annotation): Evaluation | undefined {
  const tool = ourTool(annotation.metadata?.toolName);
  const imageId = annotation.metadata?.referencedImageId;
  const handles = handlesOfAnnotation(annotation);
  if (!tool || !imageId || !handles) return undefined;
  const knownMm = (annotation.data as { knownMm?: number }).knownMm;
  const points = pointsOf(tool, handles, { known_mm: knownMm });
  if (!points) return undefined;
  const calibration = tool === 'calibration' ? null : userCalibrationBody(imageId);
  const key = JSON.stringify([points, calibration]);
  return { tool, imageId, points, calibration, key, handles, ...computeFor(tool, imageId, points, key) };
}

interface SavedRecord {
  id?: number;
  saving?: boolean;
  dirty?: boolean; // changed while its first save was on the way
  server?: { key: string; value: Result; corrected: boolean; label: string };
}

export const records = new Map<string, SavedRecord>(); // annotationUID (or 'vhs:' + group) -> the server's row

export const restoredIds = new Set<number>();

/** The study's listing (measurements and key images), fetched once per study. */
const listingByStudy = new Map<string, ReturnType<typeof measurementsApi.list>>();

export function studyListing(study: string): ReturnType<typeof measurementsApi.list> {
  let pending = listingByStudy.get(study);
  if (!pending) {
    pending = measurementsApi.list(study);
    listingByStudy.set(study, pending);
  }
  return pending;
}

const pendingPatch = new Map<string, ReturnType<typeof setTimeout>>();

export function serverState(saved: SavedMeasurement): SavedRecord['server'] {
  return {
    key: JSON.stringify([saved.points, saved.calibration ?? null]),
    value: saved.value as unknown as Result,
    corrected: Boolean(saved.value_corrected),
    label: saved.label ?? '',
  };
}

/** The Result to show: ours, or the server's for the same points when it corrected ours or knows more. */
export function shown(recordKey: string, local: Computed & { key: string }): Computed & { corrected: boolean } {
  const server = records.get(recordKey)?.server;
  if (server && server.key === local.key) {
    const knowsMore = !local.result || Object.keys(server.value.values).some((k) => !(k in local.result!.values));
    if (server.corrected || knowsMore) return { result: server.value, corrected: server.corrected };
  }
  return { result: local.result, error: local.error, corrected: false };
}

function studyOfImage(imageId: string): string | undefined {
  const where = instanceOf(imageId);
  return where ? seriesByUid.get(where.series)?.study : undefined;
}

export function labelOf(annotation: csTools.Types.Annotation): string {
  const data = annotation.data as { label?: string; knownMm?: number };
  if (annotation.metadata?.toolName === CALIBRATE) return data.knownMm ? `${data.knownMm} mm` : '';
  return data.label ?? '';
}

/** POST a finished measurement (once); the server's row id and value are kept with the annotation. */
export async function createOnServer(
  recordKey: string,
  imageId: string,
  tool: string,
  points: Record<string, unknown>,
  options: { label?: string; calibration: unknown; value?: Result },
  onSaved?: () => void,
): Promise<void> {
  if (records.has(recordKey)) return;
  const study = studyOfImage(imageId);
  const body = measurementBody(imageId, tool, points, {
    label: options.label,
    calibration: options.calibration as BodyOptions['calibration'],
    value: options.value,
  });
  if (!body || !study) {
    setStatus('Measurement NOT saved: this image is not from a study of the archive');
    return;
  }
  const record: SavedRecord = { saving: true };
  records.set(recordKey, record);
  try {
    const saved = await measurementsApi.create(study, body);
    record.id = saved.id;
    record.server = serverState(saved);
    restoredIds.add(saved.id);
    setStatus(saved.value_corrected ? 'Measurement saved; the server corrected its value (shown)' : 'Measurement saved');
    onSaved?.();
  } catch (e) {
    records.delete(recordKey);
    setStatus(`Measurement NOT saved: ${(e as Error).message}`);
  } finally {
    record.saving = false;
  }
  if (record.dirty && record.id !== undefined) schedulePatch(recordKey);
  refreshMeasurementList();
  renderAll();
}

export async function saveAnnotation(annotation: csTools.Types.Annotation): Promise<void> {
  const uid = annotation.annotationUID;
  if (!uid || !SAVED_TOOLS[annotation.metadata?.toolName ?? ''] || records.has(uid)) return;
  const ev = evaluate(annotation);
  if (!ev) return;
  if (!ev.result) {
    setStatus(`Measurement NOT saved: ${ev.error ?? 'no value'}`);
    return;
  }
  await createOnServer(uid, ev.imageId, ev.tool, ev.points, {
    label: annotation.data?.label,
    calibration: ev.calibration,
    value: ev.result,
  });
}

/** What a PATCH of this record sends now: its points, label, calibration and our value. */
function patchBody(recordKey: string): { body: Record<string, unknown>; key: string } | undefined {
  for (const [prefix, body] of groupPatches) {
    if (recordKey.startsWith(prefix)) return body(recordKey.slice(prefix.length));
  }
  const annotation = csTools.annotation.state.getAnnotation(recordKey);
  const ev = annotation && evaluate(annotation);
  if (!annotation || !ev || !ev.result) return undefined;
  return {
    body: { points: ev.points, label: annotation.data?.label ?? '', calibration: ev.calibration, value: ev.result },
    key: ev.key,
  };
}

export function schedulePatch(recordKey: string): void {
  const record = records.get(recordKey);
  if (!record) return;
  if (record.saving) {
    record.dirty = true;
    return;
  }
  clearTimeout(pendingPatch.get(recordKey));
  pendingPatch.set(
    recordKey,
    setTimeout(() => {
      pendingPatch.delete(recordKey);
      const id = records.get(recordKey)?.id;
      const change = patchBody(recordKey);
      if (id === undefined) return;
      if (!change) {
        setStatus('Measurement change NOT saved: the measurement has no value (see the panel)');
        return;
      }
      // Cornerstone also reports a "modified" annotation when it only recomputes its statistics (a
      // restored measurement drawn the first time): nothing the server does not already have.
      const server = records.get(recordKey)?.server;
      if (server && server.key === change.key && server.label === String(change.body.label ?? server.label)) return;
      measurementsApi.update(id, change.body).then(
        (saved) => {
          const r = records.get(recordKey);
          if (r) r.server = serverState(saved);
          setStatus(saved.value_corrected ? 'Measurement updated; the server corrected its value (shown)' : 'Measurement updated');
          refreshMeasurementList();
          renderAll();
        },
        (e: unknown) => setStatus(`Measurement change NOT saved: ${(e as Error).message}`),
      );
    }, 500),
  );
}

export function deleteOnServer(recordKey: string): void {
  const record = records.get(recordKey);
  records.delete(recordKey);
  clearTimeout(pendingPatch.get(recordKey));
  if (record?.id === undefined) return;
  measurementsApi.remove(record.id).then(
    () => setStatus('Measurement deleted'),
    (e: unknown) => setStatus(`Measurement NOT deleted on the server: ${(e as Error).message}`),
  );
}

export function firstPoint(uid: string | undefined): Point[] | undefined {
  const a = uid ? csTools.annotation.state.getAnnotation(uid) : undefined;
  return a ? handlesOfAnnotation(a) : undefined;
}

export function buildAnnotation(
  viewport: Types.IStackViewport,
  toolName: string,
  imageId: string,
  handles: readonly Point[],
  data: Record<string, unknown> = {},
): csTools.Types.Annotation {
  const world = handles.map((p) => csUtils.imageToWorldCoords(imageId, [p[0], p[1]]) as Types.Point3);
  const camera = viewport.getCamera();
  const zero: Types.Point3 = [0, 0, 0];
  return {
    annotationUID: csUtils.uuidv4(),
    highlighted: false,
    isLocked: false,
    isVisible: true,
    invalidated: true,
    metadata: {
      toolName,
      referencedImageId: imageId,
      viewPlaneNormal: [...(camera.viewPlaneNormal ?? [0, 0, 1])] as Types.Point3,
      viewUp: [...(camera.viewUp ?? [0, -1, 0])] as Types.Point3,
      FrameOfReferenceUID: viewport.getFrameOfReferenceUID(),
    },
    data: {
      label: '',
      ...data,
      handles: {
        points: world,
        activeHandleIndex: null,
        ...(toolName === 'ArrowAnnotate' ? { arrowFirst: true } : {}),
        textBox: {
          hasMoved: false,
          worldPosition: [...zero],
          worldBoundingBox: { topLeft: [...zero], topRight: [...zero], bottomLeft: [...zero], bottomRight: [...zero] },
        },
      },
      cachedStats: {},
    },
  } as unknown as csTools.Types.Annotation;
}
