/**
 * The VetPACS diagnostic viewer: Cornerstone3D stack viewports over our DICOMweb.
 *
 * Open with /viewer/?StudyInstanceUID=... or /viewer/?accession=... (a PMS launches it in context);
 * add &prior=<StudyInstanceUID> to compare with an earlier study side by side (1x2, prior on the right).
 * Mouse: left = active tool (window/level by default), middle = pan, right = zoom, wheel = scroll.
 * Touch: one finger = the active tool, two-finger pinch = zoom, three fingers = pan.
 * Keys: arrows scroll; W/P/Z choose a tool; L length, A angle, C Cobb, E ellipse, Q rectangle,
 * T arrow with a label, X text label, G magnifier, M calibrate against a marker, S guided VHS;
 * guided U VLAS, N Norberg angle,
 * J tibial plateau angle, D distraction index; Delete removes the selected measurement; I inverts,
 * R resets, space plays cine; F flags the image as a key image, ] and [ go to the next and previous one.
 */
import './style.css';
import {
  cache,
  Enums,
  eventTarget,
  getShouldUseCPURendering,
  init as coreInit,
  metaData,
  RenderingEngine,
  setUseCPURendering,
  type Types,
  utilities as csUtils,
} from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { init as loaderInit, wadors } from '@cornerstonejs/dicom-image-loader';
import {
  type DicomJson,
  DICOMWEB,
  getJson,
  num,
  nums,
  resolveStudy,
  SCRIPT_HEADERS,
  str,
  TAG,
  toLogin,
} from './dicomweb';
import {
  type CalibrationInput,
  calibrationOf,
  compute,
  fitCircle,
  lengthUnit,
  type Point,
  type Result,
  roundTenth,
  scaleFrom,
  unitLabel,
  vertebralUnits,
} from './geometry';
import {
  canClose,
  type Collected,
  currentStep,
  GUIDED_SPECS,
  type GuidedOptions,
  type GuidedSpec,
  type GuidedStep,
  type GuidedTool,
  isGuidedTool,
  stepTool,
} from './guided';
import { edgeLabels, orientationSource, type OrientationSource, type Projection, projectionName } from './orientation';
import { countBySeries, describeExport, flaggedKeys, keyOf, type KeyStop, stepKeyImage } from './keyimages';
import { chooseBackend, webglRenderer } from './render-backend';
import {
  type BodyOptions,
  instanceOf,
  measurementBody,
  measurementsApi,
  SAVED_TOOLS,
  type SavedMeasurement,
} from './saved';
import { ask, validateMillimetres } from './tools-dialog';
import {
  csToolOf,
  handlesOf,
  imageLines,
  ourTool,
  panelText,
  pointsOf,
  roiPixels,
  TOOL_TITLES,
  type ToolName,
} from './tools-measure';
import {
  axesAngle,
  breedKey,
  describeVhs,
  landmarkName,
  referenceBreeds,
  type Species,
  speciesOf,
  STEP_TEXT,
  vhsPoints,
  type VhsStep,
} from './vhs';
import {
  applyPreset,
  flipActive,
  invertActive,
  resetActive,
  rotateActive,
  scrollActive,
  stopCine,
  toggleCine,
  updateControls,
} from './viewer-controls';
import { followScroll, linked, linkViewports, setLinked } from './viewer-link';
import { showPriors } from './viewer-priors-ui';
import {
  $,
  calibrations,
  ENGINE_ID,
  keyImages,
  orientations,
  renderAll,
  seriesByUid,
  type SeriesInfo,
  seriesOfSop,
  setStatus,
  type Slot,
  state,
  viewportOf,
} from './viewer-state';
import { CALIBRATE, MagnifierTool, secondaryBindings, selectTool } from './viewer-tools';

const PATIENT_BREED = '00102292'; // Patient Breed Description

const GROUP_ID = 'vetpacs-tools';

const LAYOUTS: Record<string, number> = { '1x1': 1, '1x2': 2, '2x1': 2, '2x2': 4 };

let firstImageMs: number | undefined;

// Every value shown comes from geometry.ts `compute` on the annotation's points in image pixels
// (or from the server's Result when the server corrected ours), never from Cornerstone's own stats.
function imagePoint(imageId: string, world: Types.Point3): Point {
  const p = csUtils.worldToImageCoords(imageId, world);
  if (!p) throw new Error('point outside the image plane');
  return [p[0], p[1]];
}

function handlesOfAnnotation(annotation: csTools.Types.Annotation): Point[] | undefined {
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
const userCalibrations = new Map<string, UserCalibration>();

function userCalibrationBody(imageId: string): { line: [number, number][]; known_mm: number } | null {
  const u = userCalibrations.get(imageId);
  return u ? { line: u.line, known_mm: u.known_mm } : null;
}

/** How lengths are measured on an image: the header's spacing, and the user's calibration on top. */
function calibrationFor(imageId: string): CalibrationInput | null {
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

interface Computed {
  result?: Result;
  error?: string;
}

const computedCache = new Map<string, Computed>();

function computeFor(tool: string, imageId: string, points: Record<string, unknown>, key: string): Computed {
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

function evaluate(annotation: csTools.Types.Annotation): Evaluation | undefined {
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
  server?: { key: string; value: Result; corrected: boolean };
}

const records = new Map<string, SavedRecord>(); // annotationUID (or 'vhs:' + group) -> the server's row

const restoredIds = new Set<number>();

const savedByStudy = new Map<string, Promise<SavedMeasurement[]>>();

/** The study's listing (measurements and key images), fetched once per study. */
const listingByStudy = new Map<string, ReturnType<typeof measurementsApi.list>>();

function studyListing(study: string): ReturnType<typeof measurementsApi.list> {
  let pending = listingByStudy.get(study);
  if (!pending) {
    pending = measurementsApi.list(study);
    listingByStudy.set(study, pending);
  }
  return pending;
}

const pendingPatch = new Map<string, ReturnType<typeof setTimeout>>();

type AnnotationEvent = Event & { detail: { annotation?: csTools.Types.Annotation; annotationUID?: string } };

function serverState(saved: SavedMeasurement): SavedRecord['server'] {
  return {
    key: JSON.stringify([saved.points, saved.calibration ?? null]),
    value: saved.value as unknown as Result,
    corrected: Boolean(saved.value_corrected),
  };
}

/** The Result to show: ours, or the server's for the same points when it corrected ours or knows more. */
function shown(recordKey: string, local: Computed & { key: string }): Computed & { corrected: boolean } {
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

function labelOf(annotation: csTools.Types.Annotation): string {
  const data = annotation.data as { label?: string; knownMm?: number };
  if (annotation.metadata?.toolName === CALIBRATE) return data.knownMm ? `${data.knownMm} mm` : '';
  return data.label ?? '';
}

/** POST a finished measurement (once); the server's row id and value are kept with the annotation. */
async function createOnServer(
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

async function saveAnnotation(annotation: csTools.Types.Annotation): Promise<void> {
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
  if (recordKey.startsWith('guided:')) {
    const group = guidedGroups.get(recordKey.slice(7));
    const ev = group && guidedEvaluate(group);
    if (!ev || !ev.result || !group.imageId) return undefined;
    return {
      body: { points: ev.points, calibration: userCalibrationBody(group.imageId), value: ev.result },
      key: ev.key,
    };
  }
  if (recordKey.startsWith('vhs:')) {
    const group = vhsGroups.get(recordKey.slice(4));
    const ev = group && vhsEvaluate(group);
    if (!ev || !ev.result || !group.imageId) return undefined;
    return {
      body: { points: ev.points, calibration: userCalibrationBody(group.imageId), value: ev.result },
      key: ev.key,
    };
  }
  const annotation = csTools.annotation.state.getAnnotation(recordKey);
  const ev = annotation && evaluate(annotation);
  if (!annotation || !ev || !ev.result) return undefined;
  return {
    body: { points: ev.points, label: annotation.data?.label ?? '', calibration: ev.calibration, value: ev.result },
    key: ev.key,
  };
}

function schedulePatch(recordKey: string): void {
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

function deleteOnServer(recordKey: string): void {
  const record = records.get(recordKey);
  records.delete(recordKey);
  clearTimeout(pendingPatch.get(recordKey));
  if (record?.id === undefined) return;
  measurementsApi.remove(record.id).then(
    () => setStatus('Measurement deleted'),
    (e: unknown) => setStatus(`Measurement NOT deleted on the server: ${(e as Error).message}`),
  );
}

function onAnnotationModified(event: Event): void {
  const annotation = (event as AnnotationEvent).detail.annotation;
  const uid = annotation?.annotationUID;
  if (!annotation || !uid) return;
  const group = vhsPart.get(uid);
  if (group) {
    if (group.done) schedulePatch(`vhs:${group.key}`);
    renderGuide();
    return;
  }
  const guided = guidedPart.get(uid);
  if (guided) {
    if (guided.done) schedulePatch(`guided:${guided.key}`);
    renderGuided();
    return;
  }
  if (annotation.metadata?.toolName === CALIBRATE) {
    const imageId = annotation.metadata.referencedImageId;
    const cal = imageId ? userCalibrations.get(imageId) : undefined;
    const ev = evaluate(annotation);
    if (cal && cal.annotationUID === uid && ev) {
      cal.line = (ev.points.line as [number, number][]).map((p) => [p[0], p[1]]);
      if (records.has(uid)) recalibrate(imageId!);
    }
  }
  if (records.has(uid)) schedulePatch(uid);
}

function onAnnotationRemoved(event: Event): void {
  const detail = (event as AnnotationEvent).detail;
  const annotation = detail.annotation;
  const uid = annotation?.annotationUID ?? detail.annotationUID;
  if (!uid) return;
  const group = vhsPart.get(uid);
  if (group) {
    vhsPartRemoved(group, uid);
    return;
  }
  const guided = guidedPart.get(uid);
  if (guided) {
    guidedPartRemoved(guided, uid);
    return;
  }
  const imageId = annotation?.metadata?.referencedImageId;
  if (imageId && userCalibrations.get(imageId)?.annotationUID === uid) {
    userCalibrations.delete(imageId);
    recalibrate(imageId);
    setStatus('Calibration removed: lengths on this image use the header spacing again');
  }
  deleteOnServer(uid);
}

/** The user calibration of an image changed: its measurements are re-saved with it, the overlay says so. */
function recalibrate(imageId: string): void {
  for (const a of csTools.annotation.state.getAllAnnotations()) {
    const uid = a.annotationUID;
    if (!uid || a.metadata?.referencedImageId !== imageId || a.metadata.toolName === CALIBRATE) continue;
    if (records.has(uid)) schedulePatch(uid);
  }
  for (const group of vhsGroups.values()) {
    if (group.imageId === imageId && group.done) schedulePatch(`vhs:${group.key}`);
  }
  for (const group of guidedGroups.values()) {
    if (group.imageId === imageId && group.done) schedulePatch(`guided:${group.key}`);
  }
  renderGuided();
  state.slots.forEach((s) => updateOverlay(s));
  refreshMeasurementList();
  renderAll();
}

class CalibrateTool extends csTools.LengthTool {
  static toolName = CALIBRATE;
}

async function onCalibrateCompleted(annotation: csTools.Types.Annotation): Promise<void> {
  const uid = annotation.annotationUID;
  const imageId = annotation.metadata?.referencedImageId;
  const data = annotation.data as { knownMm?: number };
  if (!uid || !imageId || records.has(uid) || data.knownMm !== undefined) return;
  const handles = handlesOfAnnotation(annotation);
  if (!handles || Math.hypot(handles[1][0] - handles[0][0], handles[1][1] - handles[0][1]) < 2) {
    csTools.annotation.state.removeAnnotation(uid);
    renderAll();
    setStatus('Calibration line too short: draw it across the whole marker');
    return;
  }
  const answer = await ask({
    title: 'Calibrate this image',
    label: 'Known size of the marker along the line (mm)',
    type: 'number',
    min: '0',
    value: '25',
    validate: validateMillimetres,
  });
  if (answer === null) {
    csTools.annotation.state.removeAnnotation(uid);
    renderAll();
    setStatus('Calibration cancelled');
    return;
  }
  data.knownMm = Number(answer);
  const ev = evaluate(annotation);
  if (!ev?.result) {
    csTools.annotation.state.removeAnnotation(uid);
    renderAll();
    setStatus(`Calibration refused: ${ev?.error ?? 'no line'}`);
    return;
  }
  const earlier = userCalibrations.get(imageId);
  userCalibrations.set(imageId, {
    line: (ev.points.line as [number, number][]).map((p) => [p[0], p[1]]),
    known_mm: data.knownMm,
    annotationUID: uid,
  });
  // One calibration per image: the new one replaces the old (its row is deleted on the server).
  if (earlier && earlier.annotationUID !== uid) csTools.annotation.state.removeAnnotation(earlier.annotationUID);
  await createOnServer(uid, imageId, 'calibration', ev.points, { calibration: null, value: ev.result });
  recalibrate(imageId);
  setStatus(`Calibrated: ${data.knownMm} mm marker (${ev.result.values.mm_per_pixel.value.toPrecision(4)} mm/px)`);
}

function refreshMeasurementList(): void {
  const list = $('#measurement-list');
  list.replaceChildren();
  for (const a of csTools.annotation.state.getAllAnnotations()) {
    const uid = a.annotationUID ?? '';
    const theirs = others.get(uid);
    if (theirs) {
      const text = `${panelText(theirs.value as unknown as Result, theirs.label)} — ${theirs.username}`;
      const li = listItem(uid, a.metadata?.toolName ?? '', theirs.tool, [], text, false, false);
      li.dataset.by = theirs.username;
      list.append(li);
      continue;
    }
    if (!SAVED_TOOLS[a.metadata?.toolName ?? ''] || vhsPart.has(uid)) continue;
    const ev = evaluate(a);
    if (!ev) continue;
    const view = shown(uid, ev);
    const label = labelOf(a);
    const text = view.result
      ? panelText(view.result, label)
      : `${TOOL_TITLES[ev.tool]}: ${view.error ?? 'no value'}`;
    const li = listItem(uid, a.metadata?.toolName ?? '', ev.tool, ev.handles, text, view.corrected);
    if (ev.tool !== 'calibration') li.insertBefore(labelButton(a, text), li.lastChild);
    list.append(li);
  }
  for (const group of vhsGroups.values()) {
    if (!group.done) continue;
    const ev = vhsEvaluate(group);
    if (!ev) continue;
    const key = `vhs:${group.key}`;
    const view = shown(key, ev);
    let text = `VHS: ${view.error ?? 'no value'}`;
    if (view.result) {
      const d = describeVhs(view.result);
      text = `${d.score} · ${d.axes} · ${d.reading}`;
    }
    const li = listItem(key, 'VHS', 'vhs', [], text, view.corrected);
    li.dataset.group = group.key;
    li.dataset.vhsPoints = JSON.stringify(ev.points);
    if (view.result) li.title = describeVhs(view.result).reference;
    list.append(li);
  }
  for (const group of guidedGroups.values()) {
    const ev = group.done ? guidedEvaluate(group) : undefined;
    if (!ev) continue;
    const key = `guided:${group.key}`;
    const view = shown(key, ev);
    const d = view.result ? group.spec.describe(view.result) : undefined;
    const li = listItem(key, group.spec.button, group.spec.tool, [], d?.panel ?? `${group.spec.button}: ${view.error ?? 'no value'}`, view.corrected);
    li.dataset.group = group.key;
    li.dataset.guidedPoints = JSON.stringify(ev.points);
    if (d) li.title = `${d.reference}. Click to show it in the guide.`;
    li.classList.add('clickable');
    li.addEventListener('click', (e) => {
      if ((e.target as HTMLElement).closest('button') || guidedDraft) return;
      guidedShown = group;
      renderGuided();
    });
    list.append(li);
  }
}

function listItem(
  recordKey: string,
  csToolName: string,
  tool: string,
  handles: Point[],
  text: string,
  corrected: boolean,
  deletable = true,
): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'measurement';
  li.dataset.tool = csToolName;
  li.dataset.measurement = tool;
  if (handles.length) li.dataset.points = handles.map((pt) => pt.map((v) => v.toFixed(3)).join(',')).join(';');
  li.textContent = corrected ? `${text} (server value)` : text;
  const id = records.get(recordKey)?.id;
  if (id !== undefined) li.dataset.saved = String(id);
  if (corrected) {
    li.dataset.corrected = 'true';
    li.title = "The server's value: it recomputed the points and differed from the viewer's";
  }
  if (!deletable) return li;
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'delete';
  remove.setAttribute('aria-label', `Delete ${text}`);
  remove.addEventListener('click', () => removeRecord(recordKey));
  li.append(remove);
  return li;
}

/** The panel's ✎ button: give a measurement a label (shown above its value, saved with it). */
function labelButton(annotation: csTools.Types.Annotation, text: string): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'label'; // the pencil is drawn by CSS, so the item's text stays the measurement's
  button.setAttribute('aria-label', `Label ${text}`);
  button.addEventListener('click', () => {
    const data = annotation.data as { label?: string };
    const content = ['ArrowAnnotate', 'Label'].includes(annotation.metadata?.toolName ?? '');
    void ask({
      title: content ? 'Change the text' : 'Label this measurement',
      label: content ? 'Text shown on the image' : 'Label shown with the value (empty: none)',
      value: data.label ?? '',
      validate: (v) => (content && !v ? 'Enter a text.' : v.length > 256 ? 'At most 256 characters.' : undefined),
    }).then((label) => {
      if (label === null) return;
      data.label = label;
      const uid = annotation.annotationUID ?? '';
      if (records.has(uid)) schedulePatch(uid);
      refreshMeasurementList();
      renderAll();
    });
  });
  return button;
}

function removeRecord(recordKey: string): void {
  if (recordKey.startsWith('guided:')) {
    const group = guidedGroups.get(recordKey.slice(7));
    if (group) removeGuidedGroup(group);
  } else if (recordKey.startsWith('vhs:')) {
    const group = vhsGroups.get(recordKey.slice(4));
    if (group) removeVhsGroup(group);
  } else {
    csTools.annotation.state.removeAnnotation(recordKey);
  }
  renderAll();
  refreshMeasurementList();
}

function deleteSelected(): void {
  const selected = csTools.annotation.selection.getAnnotationsSelected();
  if (!selected.length) {
    setStatus('Select a measurement on the image first (click it), then press Delete');
    return;
  }
  for (const uid of selected) {
    if (others.has(uid)) {
      setStatus(`That measurement is ${others.get(uid)!.username}'s: read-only`);
      continue;
    }
    const group = vhsPart.get(uid);
    const guided = guidedPart.get(uid);
    if (group) removeVhsGroup(group);
    else if (guided?.done) removeGuidedGroup(guided);
    else csTools.annotation.state.removeAnnotation(uid);
  }
  renderAll();
  refreshMeasurementList();
}

/** The lines drawn beside an annotation on the image: our value (or the server's), never Cornerstone's. */
function textLinesFor(data: unknown): string[] | undefined {
  const annotation = csTools.annotation.state.getAllAnnotations().find((a) => a.data === data);
  if (!annotation) return undefined;
  const theirs = others.get(annotation.annotationUID ?? '');
  if (theirs) return [...imageLines(theirs.value as unknown as Result, theirs.label), `(${theirs.username})`];
  const ev = evaluate(annotation);
  if (!ev) return undefined;
  const view = shown(annotation.annotationUID ?? '', ev);
  if (!view.result) return view.error ? [view.error.split(':')[0]] : undefined;
  const lines = imageLines(view.result, labelOf(annotation));
  return lines.length ? lines : undefined;
}

class VhsLandmarkTool extends csTools.ProbeTool {
  static toolName = 'VhsLandmark';
}

class VhsAxisTool extends csTools.LengthTool {
  static toolName = 'VhsAxis';
}

interface VhsGroup {
  key: string;
  imageId?: string;
  species?: Species;
  breed: string;
  ladder: string[]; // annotationUIDs of the landmarks, T4 first
  long?: string;
  short?: string;
  done: boolean;
  ladderDone?: boolean;
}

const vhsGroups = new Map<string, VhsGroup>();

const vhsPart = new Map<string, VhsGroup>(); // annotationUID -> its VHS

let vhsDraft: VhsGroup | undefined; // the VHS being marked

let vhsShown: VhsGroup | undefined; // the VHS whose result the guide shows

function vhsStep(group: VhsGroup | undefined): VhsStep {
  if (!group || group.done) return 'done';
  if (!group.ladderDone) return 'ladder';
  if (!group.long) return 'long';
  return 'short';
}

interface VhsEvaluation extends Computed {
  points: Record<string, unknown>;
  key: string;
}

function firstPoint(uid: string | undefined): Point[] | undefined {
  const a = uid ? csTools.annotation.state.getAnnotation(uid) : undefined;
  return a ? handlesOfAnnotation(a) : undefined;
}

function vhsEvaluate(group: VhsGroup): VhsEvaluation | undefined {
  if (!group.imageId || !group.species) return undefined;
  const ladder = group.ladder.map((uid) => firstPoint(uid)?.[0]).filter((p): p is Point => p !== undefined);
  const long = firstPoint(group.long);
  const short = firstPoint(group.short);
  if (ladder.length !== group.ladder.length || !long || !short) return undefined;
  const points = vhsPoints({
    species: group.species,
    breed: group.breed || undefined,
    ladder,
    long_axis: [long[0], long[1]],
    short_axis: [short[0], short[1]],
  });
  const key = JSON.stringify([points, userCalibrationBody(group.imageId)]);
  return { points, key, ...computeFor('vhs', group.imageId, points, key) };
}

/** An axis in vertebrae while the VHS is still being marked (the ladder is known). */
function axisVertebrae(group: VhsGroup, uid: string): number | undefined {
  const axis = firstPoint(uid);
  const ladder = group.ladder.map((u) => firstPoint(u)?.[0]).filter((p): p is Point => p !== undefined);
  if (!axis || ladder.length < 2 || !group.imageId) return undefined;
  const s = scaleFrom(calibrationFor(group.imageId));
  const phys = (p: Point): Point => [p[0] * s.columnMm, p[1] * s.rowMm];
  const [a, b] = [phys(axis[0]), phys(axis[1])];
  try {
    return vertebralUnits(Math.hypot(b[0] - a[0], b[1] - a[1]), ladder.map(phys))[0];
  } catch {
    return undefined;
  }
}

function vhsTextLines(data: unknown, kind: 'landmark' | 'axis'): string[] | undefined {
  const annotation = csTools.annotation.state.getAllAnnotations().find((a) => a.data === data);
  const uid = annotation?.annotationUID ?? '';
  const group = vhsPart.get(uid);
  if (!group) return undefined;
  if (kind === 'landmark') {
    const i = group.ladder.indexOf(uid);
    return i >= 0 ? [landmarkName(i)] : undefined;
  }
  const name = uid === group.long ? 'Long axis' : 'Short axis';
  const ev = group.done ? vhsEvaluate(group) : undefined;
  const view = ev ? shown(`vhs:${group.key}`, ev) : undefined;
  const value = view?.result?.values[uid === group.long ? 'long_axis_vertebrae' : 'short_axis_vertebrae']?.value;
  const vu = value ?? axisVertebrae(group, uid);
  return [vu === undefined ? name : `${name} ${roundTenth(vu).toFixed(1)} v`];
}

function startVhs(): void {
  const slot = state.slots[state.active];
  if (!slot?.series) {
    setStatus('Open a lateral thoracic radiograph first');
    return;
  }
  if (!vhsDraft) {
    const species = speciesOf(state.studySpecies);
    vhsDraft = {
      key: csUtils.uuidv4(),
      species,
      breed: species ? breedKey(species, state.studyBreed) : '',
      ladder: [],
      done: false,
    };
    if (!species) setStatus(`Species "${state.studySpecies || 'unknown'}": choose dog or cat for the VHS`);
  }
  vhsShown = undefined;
  renderGuide();
  resumeVhs();
}

/** Select the tool of the current step of the VHS being marked. */
function resumeVhs(): void {
  const step = vhsStep(vhsDraft);
  if (!vhsDraft || step === 'done') return;
  if (!vhsDraft.species) {
    $<HTMLSelectElement>('#vhs-species').focus();
    return;
  }
  selectTool(step === 'ladder' ? VhsLandmarkTool.toolName : VhsAxisTool.toolName);
  document.querySelector<HTMLButtonElement>('#vhs')?.classList.add('active');
}

function onVhsPartCompleted(annotation: csTools.Types.Annotation): void {
  const uid = annotation.annotationUID;
  const imageId = annotation.metadata?.referencedImageId;
  if (!uid || !imageId || vhsPart.has(uid)) return; // a moved part: handled as a modification
  const draft = vhsDraft;
  const step = vhsStep(draft);
  const isLandmark = annotation.metadata?.toolName === VhsLandmarkTool.toolName;
  const stray = (why: string): void => {
    csTools.annotation.state.removeAnnotation(uid);
    renderAll();
    setStatus(why);
  };
  if (!draft || step === 'done') return stray('Press VHS to start a vertebral heart score');
  if (draft.imageId && draft.imageId !== imageId) return stray('Mark the whole VHS on one image');
  if (isLandmark !== (step === 'ladder')) return stray('Follow the current step of the VHS guide');
  draft.imageId = imageId;
  vhsPart.set(uid, draft);
  if (isLandmark) draft.ladder.push(uid);
  else if (step === 'long') draft.long = uid;
  else draft.short = uid;
  if (draft.short) finishVhs(draft);
  else {
    renderGuide();
    renderAll();
  }
}

function finishVhs(group: VhsGroup): void {
  const ev = vhsEvaluate(group);
  if (!ev?.result || !group.imageId) {
    setStatus(`VHS not computed: ${ev?.error ?? 'incomplete'}`);
    if (group.short) {
      const short = group.short;
      group.short = undefined;
      vhsPart.delete(short);
      csTools.annotation.state.removeAnnotation(short);
    }
    renderGuide();
    renderAll();
    return;
  }
  group.done = true;
  vhsGroups.set(group.key, group);
  vhsDraft = undefined;
  vhsShown = group;
  selectTool('WindowLevel');
  renderGuide();
  refreshMeasurementList();
  renderAll();
  void createOnServer(`vhs:${group.key}`, group.imageId, 'vhs', ev.points, {
    calibration: userCalibrationBody(group.imageId),
    value: ev.result,
  }, renderGuide);
}

function removeVhsGroup(group: VhsGroup): void {
  const parts = [...group.ladder, group.long, group.short].filter((u): u is string => Boolean(u));
  vhsGroups.delete(group.key);
  for (const uid of parts) vhsPart.delete(uid);
  for (const uid of parts) csTools.annotation.state.removeAnnotation(uid);
  if (vhsDraft === group) vhsDraft = undefined;
  if (vhsShown === group) vhsShown = undefined;
  deleteOnServer(`vhs:${group.key}`);
  renderGuide();
  refreshMeasurementList();
  renderAll();
}

/** A part of a VHS was removed (Delete key, undo): a finished VHS goes as a whole; a draft steps back. */
function vhsPartRemoved(group: VhsGroup, uid: string): void {
  if (!vhsPart.has(uid)) return;
  vhsPart.delete(uid);
  if (group.done) {
    removeVhsGroup(group);
    setStatus('VHS deleted');
    return;
  }
  group.ladder = group.ladder.filter((u) => u !== uid);
  if (group.ladder.length < 2) group.ladderDone = false;
  if (group.long === uid) group.long = undefined;
  if (group.short === uid) group.short = undefined;
  renderGuide();
  resumeVhs();
}

function cancelVhs(): void {
  if (vhsDraft) {
    const draft = vhsDraft;
    vhsDraft = undefined;
    for (const uid of [...draft.ladder, draft.long, draft.short]) {
      if (!uid) continue;
      vhsPart.delete(uid);
      csTools.annotation.state.removeAnnotation(uid);
    }
    setStatus('VHS cancelled');
    selectTool('WindowLevel');
  }
  vhsShown = undefined;
  renderGuide();
  renderAll();
}

function onSpeciesChosen(): void {
  const species = ($<HTMLSelectElement>('#vhs-species').value || undefined) as Species | undefined;
  const group = vhsDraft ?? vhsShown;
  if (!group) return;
  group.species = species;
  group.breed = species ? breedKey(species, state.studyBreed) : '';
  if (group.done) schedulePatch(`vhs:${group.key}`);
  renderGuide();
  refreshMeasurementList();
  if (vhsDraft && species) resumeVhs();
}

function onBreedChosen(): void {
  const group = vhsDraft ?? vhsShown;
  if (!group) return;
  group.breed = $<HTMLSelectElement>('#vhs-breed').value;
  if (group.done) schedulePatch(`vhs:${group.key}`);
  renderGuide();
  refreshMeasurementList();
}

function renderGuide(): void {
  const group = vhsDraft ?? vhsShown;
  const panel = $('#vhs-guide');
  panel.hidden = !group;
  document.querySelector('#vhs')?.classList.toggle('active', Boolean(vhsDraft));
  if (!group) return;
  const speciesSelect = $<HTMLSelectElement>('#vhs-species');
  speciesSelect.value = group.species ?? '';
  speciesSelect.setAttribute('aria-invalid', String(!group.species));
  const breedSelect = $<HTMLSelectElement>('#vhs-breed');
  breedSelect.replaceChildren(
    new Option(group.species ? `${group.species} (all breeds)` : '—', ''),
    ...(group.species ? referenceBreeds(group.species).map(([k, name]) => new Option(name, k)) : []),
  );
  breedSelect.value = group.breed;
  breedSelect.disabled = !group.species;

  const step = vhsStep(group);
  const order: VhsStep[] = ['ladder', 'long', 'short'];
  const steps = $('#vhs-steps');
  steps.replaceChildren();
  if (!group.species) {
    const li = document.createElement('li');
    li.textContent = `Choose the species (the study says "${state.studySpecies || 'nothing'}").`;
    li.setAttribute('aria-current', 'step');
    steps.append(li);
  }
  order.forEach((s, i) => {
    const li = document.createElement('li');
    li.dataset.step = s;
    li.textContent = STEP_TEXT[s as keyof typeof STEP_TEXT];
    if (step === 'done' || order.indexOf(step) > i) li.className = 'done';
    else if (s === step && group.species) li.setAttribute('aria-current', 'step');
    steps.append(li);
  });
  const names = group.ladder.map((_, i) => landmarkName(i));
  const progress: string[] = [];
  if (names.length) progress.push(`Ladder: ${names.join(', ')} (${names.length} landmarks)`);
  if (group.long) {
    const vu = axisVertebrae(group, group.long);
    progress.push(`Long axis${vu === undefined ? '' : ` ${roundTenth(vu).toFixed(1)} v`}`);
  }
  const long = firstPoint(group.long);
  const short = firstPoint(group.short);
  if (long && short) {
    const angle = axesAngle([long[0], long[1]], [short[0], short[1]]);
    progress.push(`Axes at ${angle.toFixed(0)}° (perpendicular: 90°)`);
  }
  $('#vhs-progress').textContent = progress.join(' · ');

  const next = $<HTMLButtonElement>('#vhs-next');
  next.hidden = step !== 'ladder';
  next.disabled = group.ladder.length < 2 || !group.species;
  const undo = $<HTMLButtonElement>('#vhs-undo');
  undo.hidden = step === 'done' || (!group.ladder.length && !group.long);
  $('#vhs-cancel').textContent = group.done ? 'Close' : 'Cancel';

  const out = $('#vhs-result');
  out.replaceChildren();
  const ev = group.done ? vhsEvaluate(group) : undefined;
  if (ev) {
    const view = shown(`vhs:${group.key}`, ev);
    if (!view.result) out.textContent = `VHS not computed: ${view.error ?? ''}`;
    else {
      const d = describeVhs(view.result);
      const reading = String(view.result.extra.interpretation);
      const line = (cls: string, text: string): HTMLElement => {
        const p = document.createElement('p');
        p.className = cls;
        p.textContent = text;
        return p;
      };
      out.append(
        line('score', `${d.score}${view.corrected ? ' (server value)' : ''}`),
        line('axes', d.axes),
        line(`reading reading-${reading}`, d.reading),
        line('reference', d.reference),
      );
      for (const w of view.result.warnings) {
        out.append(line('warning', `Warning: ${w.replace(/_/g, ' ')} (extend the ladder)`));
      }
      const id = records.get(`vhs:${group.key}`)?.id;
      if (id !== undefined) out.dataset.saved = String(id);
      else delete out.dataset.saved;
      out.dataset.vhs = roundTenth(view.result.values.vhs.value).toFixed(1);
    }
  }
}

/** The ladder is complete: on to the long axis. */
function ladderDone(): void {
  if (!vhsDraft || vhsDraft.ladder.length < 2) return;
  vhsDraft.ladderDone = true;
  renderGuide();
  resumeVhs();
}

function undoVhs(): void {
  const draft = vhsDraft;
  if (!draft) return;
  if (!draft.long && draft.ladderDone) {
    draft.ladderDone = false; // back to the ladder
    renderGuide();
    resumeVhs();
    return;
  }
  const uid = draft.long ?? draft.ladder[draft.ladder.length - 1];
  if (!uid) return;
  csTools.annotation.state.removeAnnotation(uid); // -> vhsPartRemoved steps back
  renderAll();
}

// One controller for the specs of guided.ts: each step selects its tool (a click per landmark, a
// drag for a line); the finished measurement is one saved row (record key 'guided:' + its key).
// Landmarks stay editable: moving one re-computes and re-saves; deleting one deletes the whole.
const GUIDE_COLOR = 'rgb(0, 220, 255)';

class GuidedPointTool extends csTools.ProbeTool {
  static toolName = 'GuidedPoint';

  constructor(...args: ConstructorParameters<typeof csTools.ProbeTool>) {
    super(...args);
    // The fitted circles, the Norberg and the TPA lines are drawn with the landmarks.
    const base = this.renderAnnotation;
    this.renderAnnotation = (enabledElement, svgDrawingHelper) => {
      const drew = base(enabledElement, svgDrawingHelper);
      return drawGuidedFigures(enabledElement.viewport as Types.IStackViewport, svgDrawingHelper) || drew;
    };
  }
}

class GuidedLineTool extends csTools.LengthTool {
  static toolName = 'GuidedLine';
}

interface GuidedGroup {
  key: string;
  spec: GuidedSpec;
  imageId?: string;
  parts: Record<string, string[]>; // step id -> annotationUIDs, in the order placed
  closed: Set<string>; // `points` steps ended with their button ("Rim done")
  options: GuidedOptions;
  order: string[]; // every part, in the order placed (Undo)
  done: boolean;
  error?: string;
}

const guidedGroups = new Map<string, GuidedGroup>();

const guidedPart = new Map<string, GuidedGroup>(); // annotationUID -> its measurement

let guidedDraft: GuidedGroup | undefined; // the measurement being marked

let guidedShown: GuidedGroup | undefined; // the finished one whose result the guide shows

function guidedStepIndex(group: GuidedGroup): number {
  if (group.done) return -1;
  const counts: Record<string, number> = {};
  for (const step of group.spec.steps) {
    counts[step.id] = (group.parts[step.id]?.length ?? 0) * (step.kind === 'line' ? 2 : 1);
  }
  return currentStep(group.spec, counts, group.closed);
}

/** The image points of each step, from the annotations (undefined while one is not on an image). */
function guidedCollected(group: GuidedGroup): Collected | undefined {
  const out: Collected = {};
  for (const step of group.spec.steps) {
    const pts: Point[] = [];
    for (const uid of group.parts[step.id] ?? []) {
      const handles = firstPoint(uid);
      if (!handles) return undefined;
      pts.push(...(step.kind === 'line' ? handles.slice(0, 2) : handles.slice(0, 1)));
    }
    out[step.id] = pts;
  }
  return out;
}

/** The point set of a guided measurement and its Result (same shape as a VHS evaluation). */
function guidedEvaluate(group: GuidedGroup): VhsEvaluation | undefined {
  if (!group.imageId || (group.spec.needsSide && !group.options.side)) return undefined;
  const collected = guidedCollected(group);
  if (!collected) return undefined;
  const points = group.spec.pointSet(collected, group.options);
  const key = JSON.stringify([points, userCalibrationBody(group.imageId)]);
  return { points, key, ...computeFor(group.spec.tool, group.imageId, points, key) };
}

function guidedView(group: GuidedGroup): (Computed & { corrected: boolean }) | undefined {
  const ev = group.done ? guidedEvaluate(group) : undefined;
  return ev ? shown(`guided:${group.key}`, ev) : undefined;
}

/** The step of a part and its place in the step. */
function partOf(group: GuidedGroup, uid: string): { step: GuidedStep; index: number } | undefined {
  for (const step of group.spec.steps) {
    const index = (group.parts[step.id] ?? []).indexOf(uid);
    if (index >= 0) return { step, index };
  }
  return undefined;
}

function guidedTextLines(data: unknown): string[] | undefined {
  const annotation = csTools.annotation.state.getAllAnnotations().find((a) => a.data === data);
  const uid = annotation?.annotationUID ?? '';
  const group = guidedPart.get(uid);
  const where = group && partOf(group, uid);
  if (!group || !where) return undefined;
  const lines = [where.step.name(where.index, group.options)];
  const result = where.index === 0 ? guidedView(group)?.result : undefined;
  const value = result ? group.spec.onImage(result)[where.step.id] : undefined;
  if (value) lines.push(value);
  return lines;
}

/** A fitted circle through a step's points: centre in image pixels, radius in the image's length unit. */
function stepCircle(group: GuidedGroup, step: GuidedStep): { centre: Point; radius: number; unit: string } | undefined {
  const pts = (group.parts[step.id] ?? []).map((uid) => firstPoint(uid)?.[0]).filter((p): p is Point => p !== undefined);
  if (!step.circle || pts.length < 3 || !group.imageId) return undefined;
  const s = scaleFrom(calibrationFor(group.imageId));
  try {
    const c = fitCircle(pts.map((p) => [p[0] * s.columnMm, p[1] * s.rowMm] as Point));
    return { centre: [c.cx / s.columnMm, c.cy / s.rowMm], radius: c.r, unit: unitLabel(lengthUnit(s)) };
  } catch {
    return undefined;
  }
}

/** The circles fitted through rim points (with their centres), the Norberg and TPA lines, on the canvas. */
function drawGuidedFigures(viewport: Types.IStackViewport, svg: csTools.Types.SVGDrawingHelper): boolean {
  const imageId = viewport.getCurrentImageId?.();
  if (!imageId) return false;
  const canvasOf = (uid: string | undefined): Types.Point2 | undefined => {
    const world = uid ? csTools.annotation.state.getAnnotation(uid)?.data?.handles?.points?.[0] : undefined;
    return world ? viewport.worldToCanvas(world as Types.Point3) : undefined;
  };
  const style = { color: GUIDE_COLOR, width: '1', lineDash: '4,3' };
  let drew = false;
  for (const group of [...guidedGroups.values(), ...(guidedDraft ? [guidedDraft] : [])]) {
    if (group.imageId !== imageId) continue;
    const uid = `guided-${group.key}`;
    const centres: Record<string, Types.Point2> = {};
    for (const step of group.spec.steps) {
      if (!step.circle) continue;
      const pts = (group.parts[step.id] ?? []).map(canvasOf).filter((p): p is Types.Point2 => p !== undefined);
      if (pts.length < 3) continue;
      let c;
      try {
        c = fitCircle(pts);
      } catch {
        continue;
      }
      const centre: Types.Point2 = [c.cx, c.cy];
      csTools.drawing.drawCircle(svg, uid, step.id, centre, c.r, style);
      csTools.drawing.drawCircle(svg, uid, `${step.id}-centre`, centre, 2.5, { color: GUIDE_COLOR, fill: GUIDE_COLOR });
      centres[step.id] = centre;
      drew = true;
    }
    if (group.spec.tool === 'norberg') {
      const [l, r] = [centres.left_head_rim, centres.right_head_rim];
      if (l && r) csTools.drawing.drawLine(svg, uid, 'centres', l, r, style);
      for (const [side, centre] of [['left', l], ['right', r]] as const) {
        const rim = canvasOf(group.parts[`${side}_acetabular_rim`]?.[0]);
        if (centre && rim) csTools.drawing.drawLine(svg, uid, `${side}-rim`, centre, rim, style);
      }
    }
    if (group.spec.tool === 'tpa') {
      for (const [a, b] of [['plateau_cranial', 'plateau_caudal'], ['axis_proximal', 'axis_distal']]) {
        const [p, q] = [canvasOf(group.parts[a]?.[0]), canvasOf(group.parts[b]?.[0])];
        if (p && q) csTools.drawing.drawLine(svg, uid, a, p, q, style);
        drew ||= Boolean(p && q);
      }
    }
  }
  return drew;
}

function newGuided(tool: GuidedTool): GuidedGroup {
  return {
    key: csUtils.uuidv4(),
    spec: GUIDED_SPECS[tool],
    parts: {},
    closed: new Set(),
    options: {},
    order: [],
    done: false,
  };
}

function startGuided(tool: GuidedTool): void {
  const slot = state.slots[state.active];
  if (!slot?.series) {
    setStatus('Open a radiograph first');
    return;
  }
  if (guidedDraft && guidedDraft.spec.tool !== tool) cancelGuided(); // one guided measurement at a time
  guidedDraft ??= newGuided(tool);
  guidedShown = undefined;
  renderGuided();
  resumeGuided();
}

/** Select the tool of the current step of the measurement being marked. */
function resumeGuided(): void {
  const group = guidedDraft;
  const index = group ? guidedStepIndex(group) : -1;
  if (!group || index < 0) return;
  if (group.spec.needsSide && !group.options.side) {
    $<HTMLSelectElement>('#guide-side').focus();
    return;
  }
  selectTool(stepTool(group.spec.steps[index]) === 'line' ? GuidedLineTool.toolName : GuidedPointTool.toolName);
}

function onGuidedPartCompleted(annotation: csTools.Types.Annotation): void {
  const uid = annotation.annotationUID;
  const imageId = annotation.metadata?.referencedImageId;
  if (!uid || !imageId || guidedPart.has(uid)) return; // a moved part: handled as a modification
  const group = guidedDraft;
  const index = group ? guidedStepIndex(group) : -1;
  const isLine = annotation.metadata?.toolName === GuidedLineTool.toolName;
  const stray = (why: string): void => {
    csTools.annotation.state.removeAnnotation(uid);
    renderAll();
    setStatus(why);
  };
  if (!group || index < 0) return stray('Press VLAS, Norberg, TPA or DI to start a guided measurement');
  const name = group.spec.button;
  if (group.spec.needsSide && !group.options.side) return stray(`${name}: choose the side first`);
  if (group.imageId && group.imageId !== imageId) return stray(`Mark the whole ${name} on one image`);
  const step = group.spec.steps[index];
  if (isLine !== (step.kind === 'line')) return stray(`Follow the current step of the ${name} guide`);
  group.imageId = imageId;
  group.error = undefined;
  guidedPart.set(uid, group);
  (group.parts[step.id] ??= []).push(uid);
  group.order.push(uid);
  if (guidedStepIndex(group) < 0) finishGuided(group);
  else {
    renderGuided();
    resumeGuided();
    renderAll();
  }
}

function finishGuided(group: GuidedGroup): void {
  const ev = guidedEvaluate(group);
  if (!ev?.result || !group.imageId) {
    // Not computable (e.g. collinear rim points): the last landmark is taken back; Undo goes further.
    group.error = ev?.error ?? 'incomplete';
    setStatus(`${group.spec.button} not computed: ${group.error}`);
    const last = group.order[group.order.length - 1];
    const where = last ? partOf(group, last) : undefined;
    if (where && where.step.kind === 'points' && group.closed.has(where.step.id)) group.closed.delete(where.step.id);
    else if (last) csTools.annotation.state.removeAnnotation(last); // -> guidedPartRemoved steps back
    renderGuided();
    resumeGuided();
    renderAll();
    return;
  }
  group.done = true;
  guidedGroups.set(group.key, group);
  guidedDraft = undefined;
  guidedShown = group;
  selectTool('WindowLevel');
  renderGuided();
  refreshMeasurementList();
  renderAll();
  void createOnServer(
    `guided:${group.key}`,
    group.imageId,
    group.spec.tool,
    ev.points,
    { calibration: userCalibrationBody(group.imageId), value: ev.result },
    renderGuided,
  );
}

function guidedUids(group: GuidedGroup): string[] {
  return Object.values(group.parts).flat();
}

function removeGuidedGroup(group: GuidedGroup): void {
  const parts = guidedUids(group);
  guidedGroups.delete(group.key);
  for (const uid of parts) guidedPart.delete(uid);
  for (const uid of parts) csTools.annotation.state.removeAnnotation(uid);
  if (guidedDraft === group) guidedDraft = undefined;
  if (guidedShown === group) guidedShown = undefined;
  deleteOnServer(`guided:${group.key}`);
  renderGuided();
  refreshMeasurementList();
  renderAll();
}

/** A landmark was removed (Delete key, Undo): a finished measurement goes as a whole; a draft steps back. */
function guidedPartRemoved(group: GuidedGroup, uid: string): void {
  if (!guidedPart.has(uid)) return;
  guidedPart.delete(uid);
  if (group.done) {
    removeGuidedGroup(group);
    setStatus(`${group.spec.button} deleted`);
    return;
  }
  for (const step of group.spec.steps) {
    const list = group.parts[step.id];
    if (!list?.includes(uid)) continue;
    list.splice(list.indexOf(uid), 1);
    if (list.length < step.min) group.closed.delete(step.id);
  }
  group.order = group.order.filter((u) => u !== uid);
  group.error = undefined;
  renderGuided();
  resumeGuided();
}

/**
 * Cornerstone holds a click on the image back for its double-click tolerance (400 ms) before the
 * landmark exists, and drops it when another mouseup reaches the document meanwhile: the guide keeps
 * its mouseups to itself (bindUi), and a step's button pressed sooner waits for the landmark.
 */
const CLICK_HELD_MS = 450;

let lastImagePointerDown = -Infinity;

/** The step's button ("Ladder done", "Rim done"): on to the next step. */
function closeGuidedStep(): void {
  const wait = lastImagePointerDown + CLICK_HELD_MS - performance.now();
  if (wait > 0) {
    setTimeout(closeGuidedStep, wait);
    return;
  }
  const group = guidedDraft;
  const index = group ? guidedStepIndex(group) : -1;
  if (!group || index < 0) return;
  const step = group.spec.steps[index];
  if (!canClose(step, group.parts[step.id]?.length ?? 0)) return;
  group.closed.add(step.id);
  group.error = undefined;
  if (guidedStepIndex(group) < 0) finishGuided(group);
  else {
    renderGuided();
    resumeGuided();
  }
}

function undoGuided(): void {
  const group = guidedDraft;
  if (!group) return;
  const index = guidedStepIndex(group);
  const step = group.spec.steps[index];
  const previous = group.spec.steps[index - 1];
  if (step && previous && !group.parts[step.id]?.length && group.closed.has(previous.id)) {
    group.closed.delete(previous.id); // back to the previous step's points
    renderGuided();
    resumeGuided();
    return;
  }
  const last = group.order[group.order.length - 1];
  if (!last) return;
  csTools.annotation.state.removeAnnotation(last); // -> guidedPartRemoved steps back
  renderAll();
}

function cancelGuided(): void {
  if (guidedDraft) {
    const draft = guidedDraft;
    guidedDraft = undefined;
    for (const uid of guidedUids(draft)) {
      guidedPart.delete(uid);
      csTools.annotation.state.removeAnnotation(uid);
    }
    setStatus(`${draft.spec.button} cancelled`);
    selectTool('WindowLevel');
  }
  guidedShown = undefined;
  renderGuided();
  renderAll();
}

function onSideChosen(): void {
  const group = guidedDraft ?? guidedShown;
  const value = $<HTMLSelectElement>('#guide-side').value;
  if (!group) return;
  const side = value === 'left' || value === 'right' ? value : undefined;
  if (side || !group.done) group.options.side = side;
  if (group.done) schedulePatch(`guided:${group.key}`);
  renderGuided();
  refreshMeasurementList();
  renderAll();
  if (guidedDraft && side) resumeGuided();
}

function renderGuided(): void {
  const group = guidedDraft ?? guidedShown;
  const panel = $('#guide');
  panel.hidden = !group;
  document.querySelectorAll<HTMLButtonElement>('[data-guided]').forEach((b) => {
    b.classList.toggle('active', guidedDraft?.spec.tool === b.dataset.guided);
  });
  if (!group) return;
  const { spec, options } = group;
  panel.dataset.tool = spec.tool;
  $('#guide-title').textContent = spec.title;
  $('#guide-options').hidden = !spec.needsSide;
  const sideSelect = $<HTMLSelectElement>('#guide-side');
  sideSelect.value = options.side ?? '';
  sideSelect.setAttribute('aria-invalid', String(spec.needsSide && !options.side));
  const needsChoice = spec.needsSide && !options.side;

  const index = guidedStepIndex(group);
  const steps = $('#guide-steps');
  steps.replaceChildren();
  if (needsChoice) {
    const li = document.createElement('li');
    li.textContent = 'Choose the side (left or right hip).';
    li.setAttribute('aria-current', 'step');
    steps.append(li);
  }
  spec.steps.forEach((s, i) => {
    const li = document.createElement('li');
    li.dataset.step = s.id;
    li.textContent = s.text(options);
    if (index < 0 || index > i) li.className = 'done';
    else if (i === index && !needsChoice) li.setAttribute('aria-current', 'step');
    steps.append(li);
  });

  const progress = $('#guide-progress');
  progress.replaceChildren();
  for (const s of spec.steps) {
    const n = group.parts[s.id]?.length ?? 0;
    if (!n) continue;
    const li = document.createElement('li');
    li.dataset.step = s.id;
    li.dataset.count = String(n);
    let text = s.label(options);
    if (s.kind === 'points') text += `: ${n} point${n === 1 ? '' : 's'}`;
    const circle = stepCircle(group, s);
    if (circle) {
      text += `, centre (${circle.centre[0].toFixed(1)}, ${circle.centre[1].toFixed(1)}), r ${circle.radius.toFixed(1)} ${circle.unit}`;
      li.dataset.centre = circle.centre.map((v) => v.toFixed(3)).join(',');
    }
    li.textContent = text;
    progress.append(li);
  }

  const step = index >= 0 ? spec.steps[index] : undefined;
  const next = $<HTMLButtonElement>('#guide-next');
  next.hidden = !(step?.kind === 'points' && step.done);
  next.textContent = step?.done ?? 'Done';
  next.disabled = !step || needsChoice || !canClose(step, group.parts[step.id]?.length ?? 0);
  $<HTMLButtonElement>('#guide-undo').hidden = group.done || (!group.order.length && !group.closed.size);
  $('#guide-cancel').textContent = group.done ? 'Close' : 'Cancel';

  const out = $('#guide-result');
  out.replaceChildren();
  delete out.dataset.value;
  delete out.dataset.saved;
  out.dataset.tool = spec.tool;
  const line = (cls: string, text: string): HTMLElement => {
    const p = document.createElement('p');
    p.className = cls;
    p.textContent = text;
    return p;
  };
  if (group.error) out.append(line('warning', `Not computed: ${group.error}`));
  const view = guidedView(group);
  if (!view) return;
  if (!view.result) {
    out.append(line('warning', `${spec.button} not computed: ${view.error ?? ''}`));
    return;
  }
  const d = spec.describe(view.result);
  out.append(line('score', `${d.value}${view.corrected ? ' (server value)' : ''}`));
  if (d.reading) out.append(line(`reading reading-${d.readingClass ?? ''}`, d.reading));
  out.append(line('reference', d.reference));
  for (const w of view.result.warnings) out.append(line('warning', `Warning: ${w.replace(/_/g, ' ')}`));
  out.dataset.value = d.data;
  const id = records.get(`guided:${group.key}`)?.id;
  if (id !== undefined) out.dataset.saved = String(id);
}

function restoreGuided(slot: Slot, m: SavedMeasurement, imageId: string): boolean {
  if (!isGuidedTool(m.tool)) return false;
  const spec = GUIDED_SPECS[m.tool];
  const parts = spec.partsOf(m.points);
  if (!parts) return false;
  const group: GuidedGroup = { ...newGuided(m.tool), imageId, options: parts.options, done: true };
  const viewport = viewportOf(slot);
  const add = (toolName: string, handles: Point[]): string => {
    const a = buildAnnotation(viewport, toolName, imageId, handles);
    guidedPart.set(a.annotationUID!, group);
    csTools.annotation.state.addAnnotation(a, slot.element);
    return a.annotationUID!;
  };
  for (const step of spec.steps) {
    const pts = parts.collected[step.id] ?? [];
    group.parts[step.id] =
      step.kind === 'line' ? [add(GuidedLineTool.toolName, pts.slice(0, 2))] : pts.map((p) => add(GuidedPointTool.toolName, [p]));
    group.closed.add(step.id);
  }
  guidedGroups.set(group.key, group);
  records.set(`guided:${group.key}`, { id: m.id, server: serverState(m) });
  return true;
}

function buildAnnotation(
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

function restoreVhs(
  slot: Slot,
  m: SavedMeasurement,
  imageId: string,
): boolean {
  const p = m.points;
  const isPt = (v: unknown): v is Point =>
    Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  const ladder = Array.isArray(p.ladder) ? (p.ladder as unknown[]) : [];
  const long = p.long_axis as unknown[];
  const short = p.short_axis as unknown[];
  if (!ladder.every(isPt) || !Array.isArray(long) || !long.every(isPt) || !Array.isArray(short) || !short.every(isPt)) {
    return false;
  }
  const species = (p.species === 'cat' ? 'cat' : 'dog') as Species;
  const group: VhsGroup = {
    key: csUtils.uuidv4(),
    imageId,
    species,
    breed: typeof p.breed === 'string' ? breedKey(species, p.breed) : '',
    ladder: [],
    done: true,
    ladderDone: true,
  };
  const viewport = viewportOf(slot);
  const add = (toolName: string, handles: Point[]): string => {
    const a = buildAnnotation(viewport, toolName, imageId, handles);
    vhsPart.set(a.annotationUID!, group);
    csTools.annotation.state.addAnnotation(a, slot.element);
    return a.annotationUID!;
  };
  group.ladder = (ladder as Point[]).map((pt) => add(VhsLandmarkTool.toolName, [pt]));
  group.long = add(VhsAxisTool.toolName, long as Point[]);
  group.short = add(VhsAxisTool.toolName, short as Point[]);
  vhsGroups.set(group.key, group);
  records.set(`vhs:${group.key}`, { id: m.id, server: serverState(m) });
  return true;
}

/** Put the study's saved measurements of this series back on its images (once per measurement). */
async function restoreSaved(slot: Slot, series: SeriesInfo): Promise<void> {
  let pending = savedByStudy.get(series.study);
  if (!pending) {
    pending = studyListing(series.study).then(
      (r) => r.measurements,
      (e: unknown) => {
        setStatus(`Saved measurements could not be loaded: ${(e as Error).message}`);
        return [];
      },
    );
    savedByStudy.set(series.study, pending);
  }
  // Calibrations first: the lengths on their image are measured with them.
  const all = [...(await pending)].sort((a, b) => Number(b.tool === 'calibration') - Number(a.tool === 'calibration'));
  const viewport = viewportOf(slot);
  let added = 0;
  let failed = 0;
  for (const m of all) {
    if (m.series_instance_uid !== series.uid || restoredIds.has(m.id)) continue;
    const imageId = series.imageIds.find((id) => {
      const where = instanceOf(id);
      return where?.sop === m.sop_instance_uid && where.frame === m.frame_number;
    });
    if (!imageId) continue;
    restoredIds.add(m.id);
    if (m.tool === 'vhs' || isGuidedTool(m.tool)) {
      if (m.tool === 'vhs' ? restoreVhs(slot, m, imageId) : restoreGuided(slot, m, imageId)) added++;
      else failed++;
      continue;
    }
    const toolName = csToolOf(m.tool);
    const handles = toolName && handlesOf(m.tool, m.points);
    if (!toolName || !handles) {
      failed++;
      continue;
    }
    const data: Record<string, unknown> = { label: m.label };
    if (m.tool === 'calibration') data.knownMm = Number(m.points.known_mm);
    const annotation = buildAnnotation(viewport, toolName, imageId, handles, data);
    const uid = annotation.annotationUID!;
    if (m.tool === 'calibration') {
      userCalibrations.set(imageId, {
        line: handles.map((p) => [p[0], p[1]]),
        known_mm: Number(m.points.known_mm),
        annotationUID: uid,
      });
    }
    records.set(uid, { id: m.id, server: serverState(m) });
    csTools.annotation.state.addAnnotation(annotation, slot.element);
    added++;
  }
  if (added) {
    viewport.render();
    refreshMeasurementList();
    updateOverlay(slot);
    setStatus(`${added} saved measurement${added > 1 ? 's' : ''} restored`);
  }
  if (failed) setStatus(`${failed} saved measurement${failed > 1 ? 's' : ''} could not be shown (tool not in this viewer)`);
}

/** annotationUID -> another user's saved measurement, drawn locked with the server's value. */
const others = new Map<string, SavedMeasurement>();

const othersByStudy = new Map<string, Promise<SavedMeasurement[]>>();

let showOthers = false;

/** Tools drawn for other users: simple ones; their calibrations and guided scores stay in their lists. */
const OTHERS_TOOLS = new Set(['length', 'angle', 'cobb', 'ellipse_roi', 'rectangle_roi', 'arrow', 'text']);

/** Everyone else's measurements of a study (`all_users`), without the user's own. */
function othersOf(study: string): Promise<SavedMeasurement[]> {
  let pending = othersByStudy.get(study);
  if (!pending) {
    pending = Promise.all([measurementsApi.list(study, true), studyListing(study)]).then(([all, mine]) => {
      const own = new Set(mine.measurements.map((m) => m.id));
      return all.measurements.filter((m) => !own.has(m.id));
    });
    othersByStudy.set(study, pending);
  }
  return pending;
}

/** Draw the other users' measurements of a series shown in a slot (locked, values as saved). */
async function drawOthers(slot: Slot, series: SeriesInfo): Promise<void> {
  let theirs: SavedMeasurement[];
  try {
    theirs = await othersOf(series.study);
  } catch (e) {
    setStatus(`Other users' measurements could not be loaded: ${(e as Error).message}`);
    return;
  }
  const drawn = new Set([...others.values()].map((m) => m.id));
  const viewport = viewportOf(slot);
  let added = 0;
  for (const m of theirs) {
    if (!showOthers || m.series_instance_uid !== series.uid || drawn.has(m.id) || !OTHERS_TOOLS.has(m.tool)) continue;
    const imageId = series.imageIds.find((id) => {
      const where = instanceOf(id);
      return where?.sop === m.sop_instance_uid && where.frame === m.frame_number;
    });
    const toolName = csToolOf(m.tool);
    const handles = toolName && handlesOf(m.tool, m.points);
    if (!imageId || !toolName || !handles) continue;
    const annotation = buildAnnotation(viewport, toolName, imageId, handles, { label: m.label });
    annotation.isLocked = true;
    others.set(annotation.annotationUID!, m);
    csTools.annotation.state.addAnnotation(annotation, slot.element);
    added++;
  }
  if (added) {
    viewport.render();
    refreshMeasurementList();
  }
  setStatus(`${theirs.length} measurement${theirs.length === 1 ? '' : 's'} by other users in this study`);
}

/** The "Others" toggle: show or hide the other users' measurements. */
function toggleOthers(): void {
  showOthers = !showOthers;
  $('#others').setAttribute('aria-pressed', String(showOthers));
  $('#others').classList.toggle('active', showOthers);
  if (showOthers) {
    for (const slot of state.slots) if (slot.series) void drawOthers(slot, slot.series);
    return;
  }
  for (const uid of [...others.keys()]) {
    others.delete(uid);
    csTools.annotation.state.removeAnnotation(uid);
  }
  renderAll();
  refreshMeasurementList();
  setStatus("Other users' measurements hidden");
}

function setupTools(): void {
  const { ToolGroupManager, Enums: TE } = csTools;
  const measuring = [
    csTools.LengthTool,
    csTools.AngleTool,
    csTools.CobbAngleTool,
    csTools.EllipticalROITool,
    csTools.RectangleROITool,
    csTools.ArrowAnnotateTool,
    csTools.LabelTool,
    CalibrateTool,
    VhsLandmarkTool,
    VhsAxisTool,
    GuidedPointTool,
    GuidedLineTool,
  ];
  const moving = [csTools.WindowLevelTool, csTools.PanTool, csTools.ZoomTool, csTools.StackScrollTool, MagnifierTool];
  for (const T of [...moving, ...measuring]) {
    csTools.addTool(T);
  }
  state.toolGroup = ToolGroupManager.createToolGroup(GROUP_ID)!;
  state.toolGroup.addTool(csTools.WindowLevelTool.toolName);
  state.toolGroup.addTool(csTools.PanTool.toolName);
  state.toolGroup.addTool(csTools.ZoomTool.toolName);
  state.toolGroup.addTool(csTools.StackScrollTool.toolName);
  // Magnifier: a loupe of 2.5x over a 250 px square while the button is held (mouse or touch).
  state.toolGroup.addTool(MagnifierTool.toolName, { magnifySize: 2.5 });
  // Our own values and units: mm only with Pixel Spacing or a user calibration, "detector mm" with
  // Imager Pixel Spacing alone, px otherwise (geometry.ts; the server recomputes the same).
  const getTextLines = (data: unknown): string[] | undefined => textLinesFor(data);
  for (const T of [csTools.LengthTool, csTools.AngleTool, csTools.CobbAngleTool, CalibrateTool]) {
    state.toolGroup.addTool(T.toolName, { getTextLines });
  }
  for (const T of [csTools.EllipticalROITool, csTools.RectangleROITool]) {
    state.toolGroup.addTool(T.toolName, { getTextLines, centerPointRadius: 0 });
  }
  state.toolGroup.addTool(csTools.ArrowAnnotateTool.toolName, {
    getTextCallback: (done: (label: string) => void) => {
      void ask({ title: 'Arrow label', label: 'Text shown at the arrow', validate: (v) => (v ? undefined : 'Enter a label.') }).then(
        (label) => done(label ?? ''),
      );
    },
    changeTextCallback: (annotation: csTools.Types.Annotation, _detail: unknown, done: (label: string) => void) => {
      const current = annotation.data?.label ?? '';
      void ask({ title: 'Change the label', label: 'Text shown at the arrow', value: current }).then((label) =>
        done(label || current),
      );
    },
  });
  // A free text label (no arrow), stored as `text` anchored where it was placed.
  state.toolGroup.addTool(csTools.LabelTool.toolName, {
    getTextCallback: (done: (label: string) => void) => {
      void ask({ title: 'Text label', label: 'Text shown on the image', validate: (v) => (v ? undefined : 'Enter a text.') }).then(
        (label) => done(label ?? ''),
      );
    },
    changeTextCallback: (annotation: csTools.Types.Annotation, _detail: unknown, done: (label: string) => void) => {
      const current = annotation.data?.label ?? '';
      void ask({ title: 'Change the text', label: 'Text shown on the image', value: current }).then((label) =>
        done(label || current),
      );
    },
  });
  state.toolGroup.addTool(VhsLandmarkTool.toolName, { getTextLines: (data: unknown) => vhsTextLines(data, 'landmark') });
  state.toolGroup.addTool(VhsAxisTool.toolName, { getTextLines: (data: unknown) => vhsTextLines(data, 'axis') });
  state.toolGroup.addTool(GuidedPointTool.toolName, { getTextLines: guidedTextLines });
  state.toolGroup.addTool(GuidedLineTool.toolName, { getTextLines: guidedTextLines });
  state.toolGroup.setToolActive(csTools.WindowLevelTool.toolName, {
    bindings: [{ mouseButton: TE.MouseBindings.Primary }],
  });
  state.toolGroup.setToolActive(csTools.PanTool.toolName, { bindings: secondaryBindings('Pan') });
  state.toolGroup.setToolActive(csTools.ZoomTool.toolName, { bindings: secondaryBindings('Zoom') });
  state.toolGroup.setToolActive(csTools.StackScrollTool.toolName, {
    bindings: [{ mouseButton: TE.MouseBindings.Wheel }],
  });
  for (const T of measuring) state.toolGroup.setToolPassive(T.toolName);

  for (const name of [
    TE.Events.ANNOTATION_ADDED,
    TE.Events.ANNOTATION_COMPLETED,
    TE.Events.ANNOTATION_MODIFIED,
    TE.Events.ANNOTATION_REMOVED,
  ]) {
    eventTarget.addEventListener(name, refreshMeasurementList);
  }
  eventTarget.addEventListener(TE.Events.ANNOTATION_COMPLETED, (event: Event) => {
    const annotation = (event as AnnotationEvent).detail.annotation;
    const toolName = annotation?.metadata?.toolName;
    if (!annotation) return;
    if (toolName === CALIBRATE) void onCalibrateCompleted(annotation);
    else if (toolName === VhsLandmarkTool.toolName || toolName === VhsAxisTool.toolName) onVhsPartCompleted(annotation);
    else if (toolName === GuidedPointTool.toolName || toolName === GuidedLineTool.toolName) onGuidedPartCompleted(annotation);
    else void saveAnnotation(annotation);
  });
  eventTarget.addEventListener(TE.Events.ANNOTATION_MODIFIED, onAnnotationModified);
  eventTarget.addEventListener(TE.Events.ANNOTATION_REMOVED, onAnnotationRemoved);
}

async function loadSeriesList(study: string, priorLabel?: string): Promise<SeriesInfo[]> {
  const series = await getJson(`/studies/${study}/series`);
  series.sort((a, b) => (num(a, TAG.SeriesNumber) ?? 0) - (num(b, TAG.SeriesNumber) ?? 0));
  const nav = $('#series');
  if (priorLabel === undefined) nav.replaceChildren();
  else {
    const heading = document.createElement('h2');
    heading.className = 'prior-heading';
    heading.textContent = priorLabel;
    nav.append(heading);
  }
  const out: SeriesInfo[] = [];
  for (const s of series) {
    const uid = str(s, TAG.SeriesInstanceUID);
    const info: SeriesInfo = seriesByUid.get(uid) ?? {
      study,
      prior: priorLabel !== undefined,
      uid,
      modality: str(s, TAG.Modality),
      description: str(s, TAG.SeriesDescription),
      number: num(s, TAG.SeriesNumber) ?? 0,
      imageIds: [],
      multiframe: false,
    };
    seriesByUid.set(uid, info);
    out.push(info);
    const button = document.createElement('button');
    button.className = 'thumb';
    button.dataset.series = uid;
    button.draggable = true;
    const img = document.createElement('img');
    img.alt = `${info.modality} series ${info.number}`;
    img.loading = 'lazy';
    img.src = `${DICOMWEB}/studies/${study}/series/${uid}/thumbnail`;
    const label = document.createElement('span');
    const count = num(s, TAG.NumberOfSeriesRelatedInstances);
    label.textContent = `${info.modality} ${info.number} ${info.description}${count ? ` (${count})` : ''}`;
    button.append(img, label);
    button.addEventListener('click', () => void showSeries(state.slots[state.active], info));
    button.addEventListener('dragstart', (e) => e.dataTransfer?.setData('text/x-series', uid));
    nav.append(button);
  }
  return out;
}

/** Image ids of a series (one per frame), sorted by Instance Number, and their metadata registered. */
async function imageIdsOf(series: SeriesInfo): Promise<string[]> {
  if (series.imageIds.length) return series.imageIds;
  const instances = await getJson(`/studies/${series.study}/series/${series.uid}/metadata`);
  instances.sort((a, b) => (num(a, TAG.InstanceNumber) ?? 0) - (num(b, TAG.InstanceNumber) ?? 0));
  const base = `${location.origin}${DICOMWEB}/studies/${series.study}/series/${series.uid}`;
  const ids: string[] = [];
  for (const meta of instances) {
    const sop = str(meta, TAG.SOPInstanceUID);
    const frames = num(meta, TAG.NumberOfFrames) ?? 1;
    if (frames > 1) series.multiframe = true;
    const calibration = calibrationOf(nums(meta, TAG.PixelSpacing), nums(meta, TAG.ImagerPixelSpacing));
    if (!series.prior && !state.studyBreed) state.studyBreed = str(meta, PATIENT_BREED);
    series.bodyPart ||= str(meta, TAG.BodyPartExamined);
    const orientation = orientationOf(meta);
    seriesOfSop.set(sop, series.uid);
    for (let f = 1; f <= frames; f++) {
      const imageId = `wadors:${base}/instances/${sop}/frames/${f}`;
      wadors.metaDataManager.add(imageId, meta as never);
      calibrations.set(imageId, calibration);
      orientations.set(imageId, orientation);
      ids.push(imageId);
    }
  }
  series.imageIds = ids;
  return ids;
}

/** The flags of a study from the server; marks the thumbnails and overlays. */
async function loadKeyImages(study: string): Promise<void> {
  let listing: Awaited<ReturnType<typeof measurementsApi.list>>;
  try {
    listing = await studyListing(study);
  } catch (e) {
    setStatus(`Key images could not be loaded: ${(e as Error).message}`);
    return;
  }
  const flagged = flaggedKeys(listing.key_images);
  for (const k of flagged) keyImages.add(k);
  const unknown = [...flagged].some((k) => !seriesOfSop.has(k.slice(0, k.lastIndexOf('|'))));
  if (unknown) {
    try {
      for (const inst of await getJson(`/studies/${study}/instances?includefield=0020000E`)) {
        seriesOfSop.set(str(inst, TAG.SOPInstanceUID), str(inst, TAG.SeriesInstanceUID));
      }
    } catch (e) {
      setStatus(`Key images: the study's instances could not be listed: ${(e as Error).message}`);
    }
  }
  markKeyImages();
}

/** Thumbnail markers (with the number of key images in the series) and the overlays. */
function markKeyImages(): void {
  const counts = countBySeries(keyImages, (sop) => seriesOfSop.get(sop));
  document.querySelectorAll<HTMLButtonElement>('.thumb').forEach((b) => {
    const n = counts.get(b.dataset.series ?? '') ?? 0;
    let marker = b.querySelector<HTMLSpanElement>('.key-marker');
    if (n && !marker) {
      marker = document.createElement('span');
      marker.className = 'key-marker';
      b.prepend(marker);
    }
    if (marker) {
      marker.hidden = n === 0;
      marker.textContent = `★ ${n}`;
      marker.title = `${n} key image${n === 1 ? '' : 's'} in this series`;
    }
    b.dataset.keyImages = String(n);
  });
  for (const s of state.slots) if (s.series) updateOverlay(s);
  const slot = state.slots[state.active];
  const where = slot?.series && instanceOf(viewportOf(slot).getCurrentImageId() ?? '');
  const on = Boolean(where && keyImages.has(keyOf(where.sop, where.frame)));
  $('#key-image').classList.toggle('active', on);
  $('#key-image').setAttribute('aria-pressed', String(on));
}

/** Flag (or unflag) the active viewport's image as a key image, on the server first. */
async function toggleKeyImage(): Promise<void> {
  const slot = state.slots[state.active];
  const imageId = slot?.series ? viewportOf(slot).getCurrentImageId() : undefined;
  const where = imageId ? instanceOf(imageId) : undefined;
  if (!where) {
    setStatus('Key image NOT flagged: no image of the archive in this viewport');
    return;
  }
  const key = keyOf(where.sop, where.frame);
  const flagged = !keyImages.has(key);
  try {
    const row = await measurementsApi.keyImage(where.sop, where.frame, flagged);
    if (row.flagged) keyImages.add(key);
    else keyImages.delete(key);
    seriesOfSop.set(where.sop, where.series);
    setStatus(row.flagged ? 'Key image flagged' : 'Key image flag removed');
  } catch (e) {
    setStatus(`Key image NOT ${flagged ? 'flagged' : 'unflagged'}: ${(e as Error).message}`);
  }
  markKeyImages();
}

/** Go to the next (1) or previous (-1) key image of the open study, across its series, in the
 * active viewport (keys `]` and `[`); wraps around. */
async function stepKeyImages(dir: 1 | -1): Promise<void> {
  const slot = state.slots[state.active];
  if (!slot) return;
  const order = [...seriesByUid.values()].filter((s) => !s.prior);
  const stops: KeyStop[] = [];
  for (const series of order) {
    const has = [...keyImages].some((k) => seriesOfSop.get(k.slice(0, k.lastIndexOf('|'))) === series.uid);
    if (!has) continue;
    const ids = await imageIdsOf(series);
    ids.forEach((id, index) => {
      const where = instanceOf(id);
      if (where && keyImages.has(keyOf(where.sop, where.frame))) stops.push({ series: series.uid, index });
    });
  }
  const viewport = viewportOf(slot);
  const at: KeyStop = { series: slot.series?.prior ? '' : (slot.series?.uid ?? ''), index: slot.series ? viewport.getCurrentImageIdIndex() : -1 };
  const to = stepKeyImage(stops, order.map((s) => s.uid), at, dir);
  if (!to) {
    setStatus('No key image flagged in this study (F flags the image on screen)');
    return;
  }
  const series = seriesByUid.get(to.series)!;
  if (slot.series?.uid !== series.uid) await showSeries(slot, series);
  await viewportOf(slot).setImageIdIndex(to.index);
  const n = stops.findIndex((s) => s.series === to.series && s.index === to.index) + 1;
  setStatus(`Key image ${n} of ${stops.length}`);
}

async function exportStudy(): Promise<void> {
  const button = $<HTMLButtonElement>('#export');
  button.disabled = true;
  setStatus('Exporting the measurements as DICOM (SR and presentation state)...');
  try {
    const result = await measurementsApi.exportStudy(state.studyUid);
    await refreshSeriesList();
    setStatus(describeExport(result));
    // Published last, once the series list and the status show the export (tests wait on it).
    document.body.dataset.exportedSr = result.sop_instance_uid;
    document.body.dataset.exportedCount = String(result.measurement_count);
  } catch (e) {
    setStatus(`Export FAILED: ${(e as Error).message}`);
  } finally {
    button.disabled = false;
  }
}

/** Reload the series list (new series, e.g. an exported SR), keeping the viewports as they are. */
async function refreshSeriesList(): Promise<void> {
  await loadSeriesList(state.studyUid);
  if (state.priorUidOpen) await loadSeriesList(state.priorUidOpen, state.priorLabel);
  document.querySelectorAll<HTMLButtonElement>('.thumb').forEach((b) => {
    b.classList.toggle('active', state.slots.some((s) => s.series?.uid === b.dataset.series));
  });
  markKeyImages();
}

const ORIENTATION_TAG = {
  AnatomicalOrientationType: '00102210',
  ImageOrientationPatient: '00200037',
  PatientOrientation: '00200020',
  ViewCodeSequence: '00540220',
  CodeMeaning: '00080104',
  ViewPosition: '00185101',
  ImageLaterality: '00200062',
  Laterality: '00200060',
} as const;

/** Orientation (IOP, else Patient Orientation) and projection name from an instance's metadata. */
function orientationOf(meta: DicomJson): { source?: OrientationSource; projection?: Projection } {
  const T = ORIENTATION_TAG;
  const aot = str(meta, T.AnatomicalOrientationType);
  const po = (meta[T.PatientOrientation]?.Value ?? []).map((v) => String(v));
  const source = orientationSource(aot, nums(meta, T.ImageOrientationPatient), po.length ? po : undefined);
  const viewCode = meta[T.ViewCodeSequence]?.Value?.[0] as DicomJson | undefined;
  const projection = projectionName({
    scheme: source?.scheme ?? (aot.trim().toUpperCase() === 'QUADRUPED' ? 'QUADRUPED' : 'BIPED'),
    viewCodeMeaning: viewCode ? str(viewCode, T.CodeMeaning) : undefined,
    viewPosition: str(meta, T.ViewPosition),
    bodyPart: str(meta, TAG.BodyPartExamined),
    laterality: str(meta, T.ImageLaterality) || str(meta, T.Laterality),
    orientationCodes: po,
  });
  return { source, projection };
}

/** Edge labels of the slot's current image, from where screen right and down point in the image. */
function updateEdges(slot: Slot, viewport: Types.IStackViewport, imageId: string | undefined): void {
  const source = imageId ? orientations.get(imageId)?.source : undefined;
  let labels: ReturnType<typeof edgeLabels>;
  if (source && imageId) {
    try {
      const canvas = viewport.canvas;
      const cx = canvas.clientWidth / 2;
      const cy = canvas.clientHeight / 2;
      const w0 = viewport.canvasToWorld([cx, cy]);
      const wr = viewport.canvasToWorld([cx + 1, cy]);
      const wd = viewport.canvasToWorld([cx, cy + 1]);
      const i0 = csUtils.worldToImageCoords(imageId, w0);
      const ir = csUtils.worldToImageCoords(imageId, wr);
      const id = csUtils.worldToImageCoords(imageId, wd);
      if (i0 && ir && id) {
        const delta = (a: Types.Point3, b: Types.Point3): [number, number, number] => [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        labels = edgeLabels(source, {
          rightInImage: [ir[0] - i0[0], ir[1] - i0[1]],
          downInImage: [id[0] - i0[0], id[1] - i0[1]],
          rightInPatient: source.iop ? delta(w0, wr) : undefined,
          downInPatient: source.iop ? delta(w0, wd) : undefined,
        });
      }
    } catch (e) {
      console.warn('orientation labels:', e);
    }
  }
  for (const edge of ['left', 'right', 'top', 'bottom'] as const) {
    const el = slot.edges[edge];
    el.textContent = labels?.[edge].text ?? '';
    el.title = labels?.[edge].title ?? '';
    el.hidden = !labels;
  }
  slot.element.dataset.orientation = source?.scheme ?? '';
}

const NON_IMAGE_MODALITIES = new Set(['SR', 'PR', 'KO', 'DOC']);

async function showSeries(slot: Slot, series: SeriesInfo): Promise<void> {
  if (NON_IMAGE_MODALITIES.has(series.modality)) {
    setStatus(`${series.modality} ${series.number} holds no images (a report or presentation state): it is for other DICOM viewers`);
    return;
  }
  stopCine(slot);
  slot.series = series;
  slot.defaultVoi = undefined;
  setStatus(`Loading ${series.modality} ${series.number}...`);
  const ids = await imageIdsOf(series);
  const viewport = viewportOf(slot);
  await viewport.setStack(ids, 0);
  viewport.render();
  // Fetch the rest of the stack in the background, nearest slices first, so scrolling is not held
  // up by the network (Cornerstone's stack prefetch; it follows the current image).
  if (ids.length > 1) csTools.utilities.stackPrefetch.enable(slot.element);
  setStatus('');
  void restoreSaved(slot, series);
  if (showOthers) void drawOthers(slot, series);
  document.querySelectorAll<HTMLButtonElement>('.thumb').forEach((b) => {
    b.classList.toggle('active', state.slots.some((s) => s.series?.uid === b.dataset.series));
  });
  if (state.slots.indexOf(slot) === state.active) updateControls();
}

function updateOverlay(slot: Slot): void {
  const viewport = viewportOf(slot);
  if (!slot.series || !viewport) return;
  const total = viewport.getImageIds().length;
  const index = viewport.getCurrentImageIdIndex();
  const { voiRange, invert } = viewport.getProperties();
  const lines = [`${slot.series.modality} ${slot.series.number} ${slot.series.description}`];
  if (slot.series.prior) lines.unshift(state.priorLabel);
  slot.overlay.dataset.study = slot.series.study;
  const imageId = viewport.getCurrentImageId();
  const projection = imageId ? orientations.get(imageId)?.projection : undefined;
  if (projection) lines.push(projection.text);
  slot.overlay.dataset.projection = projection?.text ?? '';
  slot.overlay.title = projection?.title ?? '';
  lines.push(`Im: ${index + 1}/${total}`);
  const where = imageId ? instanceOf(imageId) : undefined;
  const isKey = Boolean(where && keyImages.has(keyOf(where.sop, where.frame)));
  if (isKey) lines.push('★ Key image');
  slot.overlay.dataset.keyImage = String(isKey);
  if (state.slots.indexOf(slot) === state.active) {
    $('#key-image').classList.toggle('active', isKey);
    $('#key-image').setAttribute('aria-pressed', String(isKey));
  }
  updateEdges(slot, viewport, imageId);
  const calibration = imageId ? calibrations.get(imageId) : undefined;
  const user = imageId ? userCalibrations.get(imageId) : undefined;
  if (user) lines.push(`Calibrated (user marker, ${user.known_mm} mm)`);
  else if (calibration) {
    const unit = lengthUnit(scaleFrom(calibration));
    lines.push(
      unit === 'mm'
        ? 'Calibrated (Pixel Spacing)'
        : unit === 'detector_mm'
          ? 'Detector mm (Imager Pixel Spacing only)'
          : 'Not calibrated (px)',
    );
  }
  slot.overlay.textContent = lines.join('\n');
  const wl = voiRange ? csUtils.windowLevel.toWindowLevel(voiRange.lower, voiRange.upper) : undefined;
  const zoom = viewport.getZoom();
  slot.overlayBr.textContent = [
    wl ? `W: ${Math.round(wl.windowWidth)} L: ${Math.round(wl.windowCenter)}` : '',
    // The CPU drawing path has no scale until its first image is displayed.
    `${Number.isFinite(zoom) ? `Zoom: ${zoom.toFixed(2)}` : ''}${invert ? '  Inverted' : ''}`,
  ].join('\n');
  slot.overlay.dataset.index = String(index + 1);
  slot.overlayBr.dataset.ww = wl ? String(Math.round(wl.windowWidth)) : '';
  slot.overlayBr.dataset.wc = wl ? String(Math.round(wl.windowCenter)) : '';
}

function setActive(index: number): void {
  state.active = index;
  state.slots.forEach((s, i) => s.element.parentElement!.classList.toggle('active', i === index));
  updateControls();
}

function buildLayout(name: string): void {
  const count = LAYOUTS[name] ?? 1;
  const previous = state.slots.map((s) => s.series);
  state.slots.forEach((s) => stopCine(s));
  for (const s of state.slots) {
    state.toolGroup.removeViewports(ENGINE_ID, s.viewportId);
    state.engine.disableElement(s.viewportId);
  }
  const grid = $('#viewports');
  grid.className = `layout-${name}`;
  grid.replaceChildren();
  state.slots = [];
  for (let i = 0; i < count; i++) {
    const cell = document.createElement('div');
    cell.className = 'viewport';
    const element = document.createElement('div');
    element.style.width = '100%';
    element.style.height = '100%';
    element.oncontextmenu = (e) => e.preventDefault();
    element.dataset.viewport = String(i);
    const overlay = document.createElement('div');
    overlay.className = 'overlay';
    const overlayBr = document.createElement('div');
    overlayBr.className = 'overlay br';
    const edges = {} as Slot['edges'];
    for (const edge of ['left', 'right', 'top', 'bottom'] as const) {
      const span = document.createElement('span');
      span.className = `orient orient-${edge}`;
      span.hidden = true;
      edges[edge] = span;
    }
    cell.append(element, overlay, overlayBr, ...Object.values(edges));
    grid.append(cell);
    const slot: Slot = { viewportId: `vp${i}`, element, overlay, overlayBr, edges, playing: false };
    state.slots.push(slot);
    cell.addEventListener('pointerdown', () => setActive(i), true);
    cell.addEventListener('dragover', (e) => e.preventDefault());
    cell.addEventListener('drop', (e) => {
      e.preventDefault();
      const series = seriesByUid.get(e.dataTransfer?.getData('text/x-series') ?? '');
      if (series) void showSeries(slot, series);
    });
    element.addEventListener(Enums.Events.STACK_NEW_IMAGE, () => followScroll(slot));
    element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      if (firstImageMs === undefined) {
        firstImageMs = performance.now();
        document.body.dataset.firstImageMs = firstImageMs.toFixed(0);
      }
      if (!slot.defaultVoi) slot.defaultVoi = viewportOf(slot).getProperties().voiRange;
      updateOverlay(slot);
    });
  }
  state.engine.setViewports(
    state.slots.map((s) => ({ viewportId: s.viewportId, type: Enums.ViewportType.STACK, element: s.element })),
  );
  for (const s of state.slots) state.toolGroup.addViewport(s.viewportId, ENGINE_ID);
  linkViewports();
  document.querySelectorAll<HTMLButtonElement>('[data-layout]').forEach((b) => {
    b.classList.toggle('active', b.dataset.layout === name);
  });
  setActive(Math.min(state.active, count - 1));
  // Keep what was shown; fill new cells with the next series (the current study's first; with a
  // prior, the right-hand cell of 1x2 gets the prior's series most like the current one).
  const current = [...seriesByUid.values()].filter((x) => !x.prior);
  const prior = [...seriesByUid.values()].filter((x) => x.prior);
  const fill: (SeriesInfo | undefined)[] = prior.length
    ? [current[0], pickPrior(prior, current[0]), current[1], prior[1]]
    : current;
  state.slots.forEach((s, i) => {
    const series = previous[i] ?? fill[i];
    if (series) void showSeries(s, series);
  });
}

/** The prior's series to compare with `current`: same modality and description, else same modality. */
function pickPrior(prior: SeriesInfo[], current: SeriesInfo | undefined): SeriesInfo | undefined {
  if (!current) return prior[0];
  return (
    prior.find((p) => p.modality === current.modality && p.description === current.description) ??
    prior.find((p) => p.modality === current.modality) ??
    prior[0]
  );
}

function bindUi(): void {
  document.querySelectorAll<HTMLButtonElement>('[data-tool]').forEach((b) => {
    b.addEventListener('click', () => selectTool(b.dataset.tool!));
  });
  document.querySelectorAll<HTMLButtonElement>('[data-layout]').forEach((b) => {
    b.addEventListener('click', () => buildLayout(b.dataset.layout!));
  });
  $('#invert').addEventListener('click', invertActive);
  $('#rotate').addEventListener('click', () => rotateActive(1));
  $('#flip-h').addEventListener('click', () => flipActive(true));
  $('#flip-v').addEventListener('click', () => flipActive(false));
  $('#link').addEventListener('click', () => setLinked(!linked));
  $('#reset').addEventListener('click', resetActive);
  $('#key-image').addEventListener('click', () => void toggleKeyImage());
  $('#key-prev').addEventListener('click', () => void stepKeyImages(-1));
  $('#others').addEventListener('click', toggleOthers);
  $('#key-next').addEventListener('click', () => void stepKeyImages(1));
  $('#export').addEventListener('click', () => void exportStudy());
  $('#cine').addEventListener('click', toggleCine);
  $('#vhs').addEventListener('click', startVhs);
  $('#vhs-next').addEventListener('click', ladderDone);
  $('#vhs-undo').addEventListener('click', undoVhs);
  $('#vhs-cancel').addEventListener('click', cancelVhs);
  $('#vhs-species').addEventListener('change', onSpeciesChosen);
  $('#vhs-breed').addEventListener('change', onBreedChosen);
  document.querySelectorAll<HTMLButtonElement>('[data-guided]').forEach((b) => {
    b.addEventListener('click', () => startGuided(b.dataset.guided as GuidedTool));
  });
  $('#guide-next').addEventListener('click', closeGuidedStep);
  $('#viewports').addEventListener('pointerdown', () => (lastImagePointerDown = performance.now()), true);
  $('#guide').addEventListener('mouseup', (e) => e.stopPropagation());
  $('#guide-undo').addEventListener('click', undoGuided);
  $('#guide-cancel').addEventListener('click', cancelGuided);
  $('#guide-side').addEventListener('change', onSideChosen);
  $<HTMLSelectElement>('#preset').addEventListener('change', (e) => applyPreset((e.target as HTMLSelectElement).value));
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    if ($<HTMLDialogElement>('#ask').open) return;
    const keys: Record<string, () => void> = {
      ArrowUp: () => scrollActive(-1),
      ArrowLeft: () => scrollActive(-1),
      ArrowDown: () => scrollActive(1),
      ArrowRight: () => scrollActive(1),
      w: () => selectTool('WindowLevel'),
      p: () => selectTool('Pan'),
      z: () => selectTool('Zoom'),
      l: () => selectTool('Length'),
      a: () => selectTool('Angle'),
      c: () => selectTool('CobbAngle'),
      e: () => selectTool('EllipticalROI'),
      q: () => selectTool('RectangleROI'),
      t: () => selectTool('ArrowAnnotate'),
      x: () => selectTool('Label'),
      g: () => selectTool('Magnify'),
      m: () => selectTool(CALIBRATE),
      s: startVhs,
      u: () => startGuided('vlas'),
      n: () => startGuided('norberg'),
      j: () => startGuided('tpa'),
      d: () => startGuided('distraction_index'),
      Delete: deleteSelected,
      Backspace: deleteSelected,
      i: invertActive,
      o: () => rotateActive(1),
      h: () => flipActive(true),
      v: () => flipActive(false),
      k: () => setLinked(!linked),
      r: resetActive,
      f: () => void toggleKeyImage(),
      ']': () => void stepKeyImages(1),
      '[': () => void stepKeyImages(-1),
      ' ': toggleCine,
    };
    const action = keys[e.key] ?? keys[e.key.toLowerCase()];
    if (action) {
      e.preventDefault();
      action();
    }
  });
}

/** Test and integration hook: canvas (CSS px, relative to the element) of an image point. */
function imageToCanvas(x: number, y: number, slotIndex = state.active): [number, number] {
  const viewport = viewportOf(state.slots[slotIndex]);
  const imageId = viewport.getCurrentImageId();
  const world = csUtils.imageToWorldCoords(imageId, [x, y]);
  const c = viewport.worldToCanvas(world as Types.Point3);
  return [c[0], c[1]];
}

/** Test and benchmark hook: how many images of the active stack are in the cache. */
function stackStatus(): { total: number; cached: number } {
  const slot = state.slots[state.active];
  if (!slot?.series) return { total: 0, cached: 0 };
  const ids = viewportOf(slot).getImageIds();
  return { total: ids.length, cached: ids.filter((id) => cache.getImage(id) !== undefined).length };
}

/** Test and benchmark hook: show image `index` (0-based) of the active stack. */
function scrollTo(index: number): void {
  const slot = state.slots[state.active];
  if (slot?.series) void viewportOf(slot).setImageIdIndex(index);
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  let study: DicomJson;
  try {
    study = await resolveStudy(params);
  } catch (e) {
    setStatus(String((e as Error).message ?? e));
    document.body.dataset.error = 'study';
    return;
  }
  state.studyUid = str(study, TAG.StudyInstanceUID);
  state.studySpecies = str(study, TAG.PatientSpeciesDescription);
  const name = str(study, TAG.PatientName).replace(/\^/g, ' ');
  $('#study-title').textContent =
    `${name} · ${str(study, TAG.PatientSpeciesDescription)} · ${str(study, TAG.StudyDescription)} · ${str(study, TAG.AccessionNumber)}`;
  document.title = `${name} · VetPACS`;

  await coreInit();
  // Cornerstone's CPU path where WebGL is a software rasteriser (render-backend.ts); ?render= forces.
  const renderer = webglRenderer();
  if (chooseBackend(params.get('render'), renderer) === 'cpu') setUseCPURendering(true);
  document.body.dataset.render = getShouldUseCPURendering() ? 'cpu' : 'gpu';
  document.body.dataset.webgl = renderer;
  loaderInit({
    maxWebWorkers: Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)),
    beforeSend: () => ({ ...SCRIPT_HEADERS }),
    errorInterceptor: (error) => {
      if (error.request?.status === 401) toLogin();
    },
  });
  csTools.init();
  setupTools();
  state.engine = new RenderingEngine(ENGINE_ID);
  bindUi();
  const series = await loadSeriesList(state.studyUid);
  const priorUid = params.get('prior');
  if (priorUid && priorUid !== state.studyUid) {
    const priors = await getJson(`/studies?StudyInstanceUID=${encodeURIComponent(priorUid)}`);
    if (priors.length === 0) setStatus(`Prior study ${priorUid} not found`);
    else {
      const date = str(priors[0], TAG.StudyDate);
      state.priorLabel = `PRIOR ${date ? `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}` : ''}`.trim();
      await loadSeriesList(priorUid, state.priorLabel);
      state.priorUidOpen = priorUid;
      document.body.dataset.prior = priorUid;
    }
  }
  buildLayout(state.priorLabel ? '1x2' : '1x1');
  void loadKeyImages(state.studyUid);
  void showPriors(study);
  setLinked(Boolean(state.priorLabel));
  if (!series.length) setStatus('This study has no series');
  window.addEventListener('resize', () => state.engine.resize(true, true));
  (window as unknown as { vetpacs: unknown }).vetpacs = { imageToCanvas, setStatus, stackStatus, scrollTo };
  document.body.dataset.ready = '1';
}

void main().catch((e: unknown) => {
  console.error(e);
  setStatus(`Error: ${(e as Error).message ?? e}`);
  document.body.dataset.error = 'viewer';
});
