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
 *
 * This file is the wiring: Cornerstone, the tool group, the buttons and keys, opening the study.
 * What they do lives in the viewer-*.ts modules (docs/viewer.md, "Source"), which never import it.
 */
import './style.css';
import {
  cache,
  eventTarget,
  getShouldUseCPURendering,
  init as coreInit,
  RenderingEngine,
  setUseCPURendering,
  type Types,
  utilities as csUtils,
} from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { init as loaderInit } from '@cornerstonejs/dicom-image-loader';
import { type DicomJson, getJson, resolveStudy, SCRIPT_HEADERS, str, TAG, toLogin } from './dicomweb';
import { type GuidedTool } from './guided';
import { chooseBackend, webglRenderer } from './render-backend';
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
  toggleCine,
} from './viewer-controls';
import { exportStudy } from './viewer-export';
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
import { loadKeyImages, stepKeyImages, toggleKeyImage } from './viewer-keyimages-ui';
import { buildLayout } from './viewer-layout';
import { linked, setLinked } from './viewer-link';
import { refreshMeasurementList } from './viewer-measure';
import { deleteSelected, textLinesFor } from './viewer-measure-panel';
import { toggleOthers } from './viewer-others';
import { showPriors } from './viewer-priors-ui';
import { loadSeriesList } from './viewer-series';
import { $, ENGINE_ID, setStatus, state, viewportOf } from './viewer-state';
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

const GROUP_ID = 'vetpacs-tools';

/** The tool group of every viewport, and where the annotation events go. */
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

/** Toolbar buttons, the guides' controls and the keyboard shortcuts. */
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
