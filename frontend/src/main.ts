/**
 * The VetPACS diagnostic viewer: Cornerstone3D stack viewports over our DICOMweb.
 *
 * Open with /viewer/?StudyInstanceUID=... or /viewer/?accession=... (a PMS launches it in context);
 * add &prior=<StudyInstanceUID> to compare with an earlier study side by side (1x2, prior on the right).
 * Mouse: left = active tool (window/level by default), middle = pan, right = zoom, wheel = scroll.
 * Keys: arrows scroll, W/P/Z/L choose a tool, I inverts, R resets, space plays cine.
 */
import './style.css';
import {
  Enums,
  RenderingEngine,
  eventTarget,
  init as coreInit,
  utilities as csUtils,
  type Types,
} from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { init as loaderInit, wadors } from '@cornerstonejs/dicom-image-loader';
import {
  DICOMWEB,
  SCRIPT_HEADERS,
  TAG,
  getJson,
  nums,
  num,
  resolveStudy,
  str,
  toLogin,
  type DicomJson,
} from './dicomweb';
import {
  calibrationOf,
  formatLength,
  lengthUnit,
  scaleFrom,
  type CalibrationInput,
  type Point,
} from './geometry';
import { presetsFor, type Preset } from './presets';
import {
  SAVED_TOOLS,
  instanceOf,
  lengthBody,
  lengthPoints,
  measurementsApi,
  type SavedMeasurement,
} from './saved';

const ENGINE_ID = 'vetpacs';
const GROUP_ID = 'vetpacs-tools';
const LAYOUTS: Record<string, number> = { '1x1': 1, '1x2': 2, '2x1': 2, '2x2': 4 };

interface SeriesInfo {
  study: string; // its Study Instance UID (the current study or the prior)
  prior: boolean;
  uid: string;
  modality: string;
  description: string;
  number: number;
  imageIds: string[];
  multiframe: boolean;
}

interface Slot {
  viewportId: string;
  element: HTMLDivElement;
  overlay: HTMLDivElement;
  overlayBr: HTMLDivElement;
  series?: SeriesInfo;
  defaultVoi?: Types.VOIRange;
  playing: boolean;
}

const calibrations = new Map<string, CalibrationInput>(); // imageId -> how lengths are measured on it
const seriesByUid = new Map<string, SeriesInfo>();
let studyUid = '';
let priorLabel = ''; // 'PRIOR 2025-06-01' when a prior study is open beside the current one
let engine: RenderingEngine;
let toolGroup: csTools.Types.IToolGroup;
let slots: Slot[] = [];
let active = 0;
let firstImageMs: number | undefined;

const $ = <T extends HTMLElement>(sel: string): T => document.querySelector(sel) as T;

function setStatus(text: string): void {
  $('#status').textContent = text;
}

function viewportOf(slot: Slot): Types.IStackViewport {
  return engine.getViewport(slot.viewportId) as Types.IStackViewport;
}

// --------------------------------------------------------------------------- measurements
function imagePoint(imageId: string, world: Types.Point3): Point {
  const p = csUtils.worldToImageCoords(imageId, world);
  if (!p) throw new Error('point outside the image plane');
  return [p[0], p[1]];
}

function lengthText(imageId: string, points: Types.Point3[]): string | undefined {
  if (points.length < 2) return undefined;
  const calibration = calibrations.get(imageId) ?? null;
  return formatLength(imagePoint(imageId, points[0]), imagePoint(imageId, points[1]), calibration);
}

function refreshMeasurementList(): void {
  const list = $('#measurement-list');
  list.replaceChildren();
  const all = csTools.annotation.state.getAllAnnotations();
  for (const a of all) {
    if (a.metadata?.toolName !== csTools.LengthTool.toolName) continue;
    const imageId = a.metadata.referencedImageId;
    const points = a.data.handles?.points as Types.Point3[] | undefined;
    if (!imageId || !points) continue;
    const text = lengthText(imageId, points);
    if (!text) continue;
    const [p, q] = [imagePoint(imageId, points[0]), imagePoint(imageId, points[1])];
    const li = document.createElement('li');
    li.className = 'measurement';
    li.dataset.tool = 'Length';
    li.dataset.points = [p, q].map((pt) => pt.map((v) => v.toFixed(2)).join(',')).join(';');
    li.textContent = `Length ${text}`;
    const id = savedIds.get(a.annotationUID ?? '');
    if (id !== undefined) li.dataset.saved = String(id);
    list.append(li);
  }
}

// --------------------------------------------------------------------------- kept on the server
const savedIds = new Map<string, number>(); // annotationUID -> measurement id on the server
const restoredIds = new Set<number>();
const savedByStudy = new Map<string, Promise<SavedMeasurement[]>>();
const pendingPatch = new Map<string, ReturnType<typeof setTimeout>>();

type AnnotationEvent = Event & { detail: { annotation?: csTools.Types.Annotation; annotationUID?: string } };

function linePoints(annotation: csTools.Types.Annotation): [Point, Point] | undefined {
  const imageId = annotation.metadata?.referencedImageId;
  const points = annotation.data?.handles?.points as Types.Point3[] | undefined;
  if (!imageId || !points || points.length < 2) return undefined;
  return [imagePoint(imageId, points[0]), imagePoint(imageId, points[1])];
}

function studyOfImage(imageId: string): string | undefined {
  const where = instanceOf(imageId);
  return where ? seriesByUid.get(where.series)?.study : undefined;
}

async function saveAnnotation(annotation: csTools.Types.Annotation): Promise<void> {
  const uid = annotation.annotationUID;
  const imageId = annotation.metadata?.referencedImageId;
  if (!uid || !imageId || !SAVED_TOOLS[annotation.metadata?.toolName ?? ''] || savedIds.has(uid)) return;
  const line = linePoints(annotation);
  const study = studyOfImage(imageId);
  const body = line && lengthBody(imageId, line[0], line[1]);
  if (!body || !study) return;
  try {
    const saved = await measurementsApi.create(study, body);
    savedIds.set(uid, saved.id);
    restoredIds.add(saved.id);
    setStatus('Measurement saved');
  } catch (e) {
    setStatus(`Measurement NOT saved: ${(e as Error).message}`);
  }
  refreshMeasurementList();
}

function onAnnotationModified(event: Event): void {
  const annotation = (event as AnnotationEvent).detail.annotation;
  const uid = annotation?.annotationUID;
  if (!annotation || !uid || !savedIds.has(uid)) return;
  clearTimeout(pendingPatch.get(uid));
  pendingPatch.set(
    uid,
    setTimeout(() => {
      pendingPatch.delete(uid);
      const line = linePoints(annotation);
      const id = savedIds.get(uid);
      if (!line || id === undefined) return;
      const round = (p: Point): [number, number] => [Number(p[0].toFixed(3)), Number(p[1].toFixed(3))];
      measurementsApi.update(id, { line: [round(line[0]), round(line[1])] }).then(
        () => setStatus('Measurement updated'),
        (e: unknown) => setStatus(`Measurement change NOT saved: ${(e as Error).message}`),
      );
    }, 500),
  );
}

function onAnnotationRemoved(event: Event): void {
  const detail = (event as AnnotationEvent).detail;
  const uid = detail.annotation?.annotationUID ?? detail.annotationUID;
  const id = uid ? savedIds.get(uid) : undefined;
  if (!uid || id === undefined) return;
  savedIds.delete(uid);
  clearTimeout(pendingPatch.get(uid));
  measurementsApi.remove(id).then(
    () => setStatus('Measurement deleted'),
    (e: unknown) => setStatus(`Measurement NOT deleted on the server: ${(e as Error).message}`),
  );
}

/** Put the study's saved Lengths of this series back on its images (once per measurement). */
async function restoreSaved(slot: Slot, series: SeriesInfo): Promise<void> {
  let pending = savedByStudy.get(series.study);
  if (!pending) {
    pending = measurementsApi.list(series.study).then(
      (r) => r.measurements,
      (e: unknown) => {
        setStatus(`Saved measurements could not be loaded: ${(e as Error).message}`);
        return [];
      },
    );
    savedByStudy.set(series.study, pending);
  }
  const all = await pending;
  const viewport = viewportOf(slot);
  let added = 0;
  for (const m of all) {
    if (m.series_instance_uid !== series.uid || m.tool !== 'length' || restoredIds.has(m.id)) continue;
    const imageId = series.imageIds.find((id) => {
      const where = instanceOf(id);
      return where?.sop === m.sop_instance_uid && where.frame === m.frame_number;
    });
    const line = lengthPoints(m);
    if (!imageId || !line) continue;
    const world = line.map((p) => csUtils.imageToWorldCoords(imageId, [p[0], p[1]]) as Types.Point3);
    const camera = viewport.getCamera();
    const uid = csUtils.uuidv4();
    const annotation = {
      annotationUID: uid,
      highlighted: false,
      isLocked: false,
      isVisible: true,
      invalidated: true,
      metadata: {
        toolName: csTools.LengthTool.toolName,
        referencedImageId: imageId,
        viewPlaneNormal: [...(camera.viewPlaneNormal ?? [0, 0, 1])] as Types.Point3,
        viewUp: [...(camera.viewUp ?? [0, -1, 0])] as Types.Point3,
        FrameOfReferenceUID: viewport.getFrameOfReferenceUID(),
      },
      data: {
        label: m.label,
        handles: {
          points: world,
          activeHandleIndex: null,
          textBox: {
            hasMoved: false,
            worldPosition: [0, 0, 0] as Types.Point3,
            worldBoundingBox: {
              topLeft: [0, 0, 0] as Types.Point3,
              topRight: [0, 0, 0] as Types.Point3,
              bottomLeft: [0, 0, 0] as Types.Point3,
              bottomRight: [0, 0, 0] as Types.Point3,
            },
          },
        },
        cachedStats: {},
      },
    } as unknown as csTools.Types.Annotation;
    restoredIds.add(m.id);
    savedIds.set(uid, m.id);
    csTools.annotation.state.addAnnotation(annotation, slot.element);
    added++;
  }
  if (added) {
    viewport.render();
    refreshMeasurementList();
    setStatus(`${added} saved measurement${added > 1 ? 's' : ''} restored`);
  }
}

// --------------------------------------------------------------------------- tools
function setupTools(): void {
  const { ToolGroupManager, Enums: TE } = csTools;
  for (const T of [
    csTools.WindowLevelTool,
    csTools.PanTool,
    csTools.ZoomTool,
    csTools.StackScrollTool,
    csTools.LengthTool,
  ]) {
    csTools.addTool(T);
  }
  toolGroup = ToolGroupManager.createToolGroup(GROUP_ID)!;
  toolGroup.addTool(csTools.WindowLevelTool.toolName);
  toolGroup.addTool(csTools.PanTool.toolName);
  toolGroup.addTool(csTools.ZoomTool.toolName);
  toolGroup.addTool(csTools.StackScrollTool.toolName);
  toolGroup.addTool(csTools.LengthTool.toolName, {
    // Our own units: mm only with Pixel Spacing, "detector mm" with Imager Pixel Spacing alone.
    getTextLines: (data: { handles: { points: Types.Point3[] } }, targetId: string) => {
      const imageId = targetId.startsWith('imageId:') ? targetId.slice('imageId:'.length) : '';
      const text = imageId ? lengthText(imageId, data.handles.points) : undefined;
      return text ? [text] : undefined;
    },
  });
  toolGroup.setToolActive(csTools.WindowLevelTool.toolName, {
    bindings: [{ mouseButton: TE.MouseBindings.Primary }],
  });
  toolGroup.setToolActive(csTools.PanTool.toolName, {
    bindings: [{ mouseButton: TE.MouseBindings.Auxiliary }],
  });
  toolGroup.setToolActive(csTools.ZoomTool.toolName, {
    bindings: [{ mouseButton: TE.MouseBindings.Secondary }],
  });
  toolGroup.setToolActive(csTools.StackScrollTool.toolName, {
    bindings: [{ mouseButton: TE.MouseBindings.Wheel }],
  });
  toolGroup.setToolPassive(csTools.LengthTool.toolName);

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
    if (annotation) void saveAnnotation(annotation);
  });
  eventTarget.addEventListener(TE.Events.ANNOTATION_MODIFIED, onAnnotationModified);
  eventTarget.addEventListener(TE.Events.ANNOTATION_REMOVED, onAnnotationRemoved);
}

const PRIMARY_TOOLS = ['WindowLevel', 'Pan', 'Zoom', 'Length'];

function selectTool(name: string): void {
  const { Enums: TE } = csTools;
  for (const tool of PRIMARY_TOOLS) {
    if (tool === name) continue;
    // Keep the secondary bindings (middle = pan, right = zoom); only the primary moves.
    const bindings =
      tool === 'Pan'
        ? [{ mouseButton: TE.MouseBindings.Auxiliary }]
        : tool === 'Zoom'
          ? [{ mouseButton: TE.MouseBindings.Secondary }]
          : [];
    if (bindings.length) toolGroup.setToolActive(tool, { bindings });
    else toolGroup.setToolPassive(tool);
  }
  const extra =
    name === 'Pan'
      ? [{ mouseButton: TE.MouseBindings.Auxiliary }]
      : name === 'Zoom'
        ? [{ mouseButton: TE.MouseBindings.Secondary }]
        : [];
  toolGroup.setToolActive(name, { bindings: [{ mouseButton: TE.MouseBindings.Primary }, ...extra] });
  document.querySelectorAll<HTMLButtonElement>('[data-tool]').forEach((b) => {
    b.classList.toggle('active', b.dataset.tool === name);
  });
}

// --------------------------------------------------------------------------- series and stacks
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
    const info: SeriesInfo = {
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
    button.addEventListener('click', () => void showSeries(slots[active], info));
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
    for (let f = 1; f <= frames; f++) {
      const imageId = `wadors:${base}/instances/${sop}/frames/${f}`;
      wadors.metaDataManager.add(imageId, meta as never);
      calibrations.set(imageId, calibration);
      ids.push(imageId);
    }
  }
  series.imageIds = ids;
  return ids;
}

async function showSeries(slot: Slot, series: SeriesInfo): Promise<void> {
  stopCine(slot);
  slot.series = series;
  slot.defaultVoi = undefined;
  setStatus(`Loading ${series.modality} ${series.number}...`);
  const ids = await imageIdsOf(series);
  const viewport = viewportOf(slot);
  await viewport.setStack(ids, 0);
  viewport.render();
  setStatus('');
  void restoreSaved(slot, series);
  document.querySelectorAll<HTMLButtonElement>('.thumb').forEach((b) => {
    b.classList.toggle('active', slots.some((s) => s.series?.uid === b.dataset.series));
  });
  if (slots.indexOf(slot) === active) updateControls();
}

// --------------------------------------------------------------------------- overlays, presets, cine
function updateOverlay(slot: Slot): void {
  const viewport = viewportOf(slot);
  if (!slot.series || !viewport) return;
  const total = viewport.getImageIds().length;
  const index = viewport.getCurrentImageIdIndex();
  const { voiRange, invert } = viewport.getProperties();
  const lines = [`${slot.series.modality} ${slot.series.number} ${slot.series.description}`];
  if (slot.series.prior) lines.unshift(priorLabel);
  slot.overlay.dataset.study = slot.series.study;
  lines.push(`Im: ${index + 1}/${total}`);
  const imageId = viewport.getCurrentImageId();
  const calibration = imageId ? calibrations.get(imageId) : undefined;
  if (calibration) {
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
    `Zoom: ${zoom.toFixed(2)}${invert ? '  Inverted' : ''}`,
  ].join('\n');
  slot.overlay.dataset.index = String(index + 1);
  slot.overlayBr.dataset.ww = wl ? String(Math.round(wl.windowWidth)) : '';
  slot.overlayBr.dataset.wc = wl ? String(Math.round(wl.windowCenter)) : '';
}

function updateControls(): void {
  const slot = slots[active];
  const select = $<HTMLSelectElement>('#preset');
  select.replaceChildren();
  const presets: Preset[] = presetsFor(slot?.series?.modality ?? '');
  const header = new Option('Window: default', '');
  select.append(header, ...presets.map((p) => new Option(`${p.name} (${p.width}/${p.center})`, p.name)));
  $('#cine-controls').hidden = !(slot?.series && (slot.series.multiframe || slot.series.modality === 'US' || slot.series.modality === 'XA'));
  $('#cine').textContent = slot?.playing ? 'Stop' : 'Play';
}

function applyPreset(name: string): void {
  const slot = slots[active];
  const viewport = viewportOf(slot);
  if (!name) {
    if (slot.defaultVoi) viewport.setProperties({ voiRange: slot.defaultVoi });
  } else {
    const preset = presetsFor(slot.series?.modality ?? '').find((p) => p.name === name);
    if (!preset) return;
    viewport.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(preset.width, preset.center) });
  }
  viewport.render();
}

function stopCine(slot: Slot): void {
  if (slot.playing) csTools.utilities.cine.stopClip(slot.element);
  slot.playing = false;
}

function toggleCine(): void {
  const slot = slots[active];
  if (!slot?.series) return;
  if (slot.playing) stopCine(slot);
  else {
    const fps = Math.max(1, Math.min(60, Number($<HTMLInputElement>('#fps').value) || 15));
    csTools.utilities.cine.playClip(slot.element, { framesPerSecond: fps, loop: true });
    slot.playing = true;
  }
  updateControls();
}

// --------------------------------------------------------------------------- layout
function setActive(index: number): void {
  active = index;
  slots.forEach((s, i) => s.element.parentElement!.classList.toggle('active', i === index));
  updateControls();
}

function buildLayout(name: string): void {
  const count = LAYOUTS[name] ?? 1;
  const previous = slots.map((s) => s.series);
  slots.forEach((s) => stopCine(s));
  for (const s of slots) {
    toolGroup.removeViewports(ENGINE_ID, s.viewportId);
    engine.disableElement(s.viewportId);
  }
  const grid = $('#viewports');
  grid.className = `layout-${name}`;
  grid.replaceChildren();
  slots = [];
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
    cell.append(element, overlay, overlayBr);
    grid.append(cell);
    const slot: Slot = { viewportId: `vp${i}`, element, overlay, overlayBr, playing: false };
    slots.push(slot);
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
  engine.setViewports(
    slots.map((s) => ({ viewportId: s.viewportId, type: Enums.ViewportType.STACK, element: s.element })),
  );
  for (const s of slots) toolGroup.addViewport(s.viewportId, ENGINE_ID);
  linkViewports();
  document.querySelectorAll<HTMLButtonElement>('[data-layout]').forEach((b) => {
    b.classList.toggle('active', b.dataset.layout === name);
  });
  setActive(Math.min(active, count - 1));
  // Keep what was shown; fill new cells with the next series (the current study's first; with a
  // prior, the right-hand cell of 1x2 gets the prior's series most like the current one).
  const current = [...seriesByUid.values()].filter((x) => !x.prior);
  const prior = [...seriesByUid.values()].filter((x) => x.prior);
  const fill: (SeriesInfo | undefined)[] = prior.length
    ? [current[0], pickPrior(prior, current[0]), current[1], prior[1]]
    : current;
  slots.forEach((s, i) => {
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

// --------------------------------------------------------------------------- input
function scrollActive(delta: number): void {
  const slot = slots[active];
  if (!slot?.series) return;
  csUtils.scroll(viewportOf(slot), { delta });
}

function resetActive(): void {
  const slot = slots[active];
  if (!slot?.series) return;
  const viewport = viewportOf(slot);
  viewport.resetCamera();
  viewport.resetProperties();
  viewport.setViewPresentation({ rotation: 0 });
  delete slot.element.dataset.rotation;
  delete slot.element.dataset.flip;
  if (slot.defaultVoi) viewport.setProperties({ voiRange: slot.defaultVoi, invert: false });
  viewport.render();
  $<HTMLSelectElement>('#preset').value = '';
}

/** Rotate the active image by 90 degrees (clockwise with +1) or flip it; Reset undoes both. */
function rotateActive(quarterTurns: number): void {
  const slot = slots[active];
  if (!slot?.series) return;
  const viewport = viewportOf(slot);
  const rotation = (((viewport.getViewPresentation().rotation ?? 0) + 90 * quarterTurns) % 360 + 360) % 360;
  viewport.setViewPresentation({ rotation });
  viewport.render();
  slot.element.dataset.rotation = String(rotation);
}

function flipActive(horizontal: boolean): void {
  const slot = slots[active];
  if (!slot?.series) return;
  const viewport = viewportOf(slot);
  const camera = viewport.getCamera();
  if (horizontal) viewport.setCamera({ flipHorizontal: !camera.flipHorizontal });
  else viewport.setCamera({ flipVertical: !camera.flipVertical });
  viewport.render();
  const after = viewport.getCamera();
  slot.element.dataset.flip = `${after.flipHorizontal ? 'H' : ''}${after.flipVertical ? 'V' : ''}`;
}

// --------------------------------------------------------------------------- linked viewports
// With "Link" on (the default when a prior is open), scrolling one viewport moves the others to
// the same relative position in their stacks, and zoom and pan follow (Cornerstone's zoom/pan
// synchronizer). Relative position, not patient position: a prior CT may have another slice count.
let linked = false;
let zoomPan: ReturnType<typeof csTools.synchronizers.createZoomPanSynchronizer> | undefined;
const followers = new Set<Slot>(); // viewports we are moving: their new image is not a user's scroll

function setLinked(on: boolean): void {
  linked = on;
  $('#link').classList.toggle('active', on);
  $('#link').setAttribute('aria-pressed', String(on));
  linkViewports();
}

function linkViewports(): void {
  zoomPan ??= csTools.synchronizers.createZoomPanSynchronizer('vetpacs-zoom-pan');
  for (const v of [...zoomPan.getSourceViewports()]) zoomPan.remove(v);
  if (!linked || slots.length < 2) return;
  for (const s of slots) zoomPan.add({ renderingEngineId: ENGINE_ID, viewportId: s.viewportId });
}

function followScroll(source: Slot): void {
  if (followers.delete(source)) return;
  if (!linked || slots.length < 2) return;
  const from = viewportOf(source);
  const total = from.getImageIds().length;
  if (total < 2) return;
  const fraction = from.getCurrentImageIdIndex() / (total - 1);
  for (const other of slots) {
    if (other === source || !other.series) continue;
    const to = viewportOf(other);
    const n = to.getImageIds().length;
    const target = Math.round(fraction * (n - 1));
    if (n > 1 && to.getCurrentImageIdIndex() !== target) {
      followers.add(other);
      void to.setImageIdIndex(target);
    }
  }
}

function invertActive(): void {
  const slot = slots[active];
  if (!slot?.series) return;
  const viewport = viewportOf(slot);
  viewport.setProperties({ invert: !viewport.getProperties().invert });
  viewport.render();
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
  $('#cine').addEventListener('click', toggleCine);
  $<HTMLSelectElement>('#preset').addEventListener('change', (e) => applyPreset((e.target as HTMLSelectElement).value));
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    const keys: Record<string, () => void> = {
      ArrowUp: () => scrollActive(-1),
      ArrowLeft: () => scrollActive(-1),
      ArrowDown: () => scrollActive(1),
      ArrowRight: () => scrollActive(1),
      w: () => selectTool('WindowLevel'),
      p: () => selectTool('Pan'),
      z: () => selectTool('Zoom'),
      l: () => selectTool('Length'),
      i: invertActive,
      o: () => rotateActive(1),
      h: () => flipActive(true),
      v: () => flipActive(false),
      k: () => setLinked(!linked),
      r: resetActive,
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
function imageToCanvas(x: number, y: number, slotIndex = active): [number, number] {
  const viewport = viewportOf(slots[slotIndex]);
  const imageId = viewport.getCurrentImageId();
  const world = csUtils.imageToWorldCoords(imageId, [x, y]);
  const c = viewport.worldToCanvas(world as Types.Point3);
  return [c[0], c[1]];
}

// --------------------------------------------------------------------------- start
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
  studyUid = str(study, TAG.StudyInstanceUID);
  const name = str(study, TAG.PatientName).replace(/\^/g, ' ');
  $('#study-title').textContent =
    `${name} · ${str(study, TAG.PatientSpeciesDescription)} · ${str(study, TAG.StudyDescription)} · ${str(study, TAG.AccessionNumber)}`;
  document.title = `${name} · VetPACS`;

  await coreInit();
  loaderInit({
    maxWebWorkers: Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)),
    beforeSend: () => ({ ...SCRIPT_HEADERS }),
    errorInterceptor: (error) => {
      if (error.request?.status === 401) toLogin();
    },
  });
  csTools.init();
  setupTools();
  engine = new RenderingEngine(ENGINE_ID);
  bindUi();
  const series = await loadSeriesList(studyUid);
  const priorUid = params.get('prior');
  if (priorUid && priorUid !== studyUid) {
    const priors = await getJson(`/studies?StudyInstanceUID=${encodeURIComponent(priorUid)}`);
    if (priors.length === 0) setStatus(`Prior study ${priorUid} not found`);
    else {
      const date = str(priors[0], TAG.StudyDate);
      priorLabel = `PRIOR ${date ? `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}` : ''}`.trim();
      await loadSeriesList(priorUid, priorLabel);
      document.body.dataset.prior = priorUid;
    }
  }
  buildLayout(priorLabel ? '1x2' : '1x1');
  setLinked(Boolean(priorLabel));
  if (!series.length) setStatus('This study has no series');
  window.addEventListener('resize', () => engine.resize(true, true));
  (window as unknown as { vetpacs: unknown }).vetpacs = { imageToCanvas, setStatus };
  document.body.dataset.ready = '1';
}

void main().catch((e: unknown) => {
  console.error(e);
  setStatus(`Error: ${(e as Error).message ?? e}`);
  document.body.dataset.error = 'viewer';
});
