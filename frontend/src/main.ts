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
import { calibrationOf } from './geometry';
import { type GuidedTool } from './guided';
import { countBySeries, describeExport, flaggedKeys, keyOf, type KeyStop, stepKeyImage } from './keyimages';
import { chooseBackend, webglRenderer } from './render-backend';
import { instanceOf, measurementsApi } from './saved';
import { ask } from './tools-dialog';
import { onAnnotationCompleted, onAnnotationModified, onAnnotationRemoved } from './viewer-annotations';
import { CalibrateTool } from './viewer-calibration';
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
import {
  cancelGuided,
  closeGuidedStep,
  GuidedLineTool,
  GuidedPointTool,
  guidedTextLines,
  notePointerDown,
  onSideChosen,
  startGuided,
  undoGuided,
} from './viewer-guided-ui';
import { followScroll, linked, linkViewports, setLinked } from './viewer-link';
import { refreshMeasurementList, studyListing } from './viewer-measure';
import { deleteSelected, textLinesFor } from './viewer-measure-panel';
import { drawOthers, showOthers, toggleOthers } from './viewer-others';
import { orientationOf, updateOverlay } from './viewer-overlay';
import { showPriors } from './viewer-priors-ui';
import { restoreSaved } from './viewer-restore';
import {
  $,
  calibrations,
  ENGINE_ID,
  keyImages,
  orientations,
  seriesByUid,
  type SeriesInfo,
  seriesOfSop,
  setStatus,
  type Slot,
  state,
  viewportOf,
} from './viewer-state';
import { CALIBRATE, MagnifierTool, secondaryBindings, selectTool } from './viewer-tools';
import {
  cancelVhs,
  ladderDone,
  onBreedChosen,
  onSpeciesChosen,
  startVhs,
  undoVhs,
  VhsAxisTool,
  VhsLandmarkTool,
  vhsTextLines,
} from './viewer-vhs-ui';

const PATIENT_BREED = '00102292'; // Patient Breed Description

const GROUP_ID = 'vetpacs-tools';

const LAYOUTS: Record<string, number> = { '1x1': 1, '1x2': 2, '2x1': 2, '2x2': 4 };

let firstImageMs: number | undefined;

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
  eventTarget.addEventListener(TE.Events.ANNOTATION_COMPLETED, onAnnotationCompleted);
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
  $('#viewports').addEventListener('pointerdown', notePointerDown, true);
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
