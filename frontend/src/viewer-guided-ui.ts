/**
 * The guided VLAS, Norberg angle, TPA and distraction index (`#guide`): one controller for the specs
 * of guided.ts. Each step selects its tool (a click per landmark, a drag for a line); the finished
 * measurement is one saved row (record key 'guided:' + its key). Landmarks stay editable: moving one
 * re-computes and re-saves; deleting one deletes the whole.
 */
import { type Types, utilities as csUtils } from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { fitCircle, lengthUnit, type Point, scaleFrom, unitLabel } from './geometry';
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
import { type SavedMeasurement } from './saved';
import {
  buildAnnotation,
  calibrationFor,
  type Computed,
  computeFor,
  createOnServer,
  deleteOnServer,
  firstPoint,
  GroupEvaluation,
  records,
  refreshMeasurementList,
  registerGroupPatch,
  schedulePatch,
  serverState,
  shown,
  userCalibrationBody,
} from './viewer-measure';
import { $, renderAll, setStatus, type Slot, state, viewportOf } from './viewer-state';
import { selectTool } from './viewer-tools';

// One controller for the specs of guided.ts: each step selects its tool (a click per landmark, a
// drag for a line); the finished measurement is one saved row (record key 'guided:' + its key).
// Landmarks stay editable: moving one re-computes and re-saves; deleting one deletes the whole.
const GUIDE_COLOR = 'rgb(0, 220, 255)';

export class GuidedPointTool extends csTools.ProbeTool {
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

export class GuidedLineTool extends csTools.LengthTool {
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

export const guidedGroups = new Map<string, GuidedGroup>();

export const guidedPart = new Map<string, GuidedGroup>(); // annotationUID -> its measurement

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
export function guidedEvaluate(group: GuidedGroup): GroupEvaluation | undefined {
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

export function guidedTextLines(data: unknown): string[] | undefined {
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

export function startGuided(tool: GuidedTool): void {
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

export function onGuidedPartCompleted(annotation: csTools.Types.Annotation): void {
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

export function removeGuidedGroup(group: GuidedGroup): void {
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
export function guidedPartRemoved(group: GuidedGroup, uid: string): void {
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
export function closeGuidedStep(): void {
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

export function undoGuided(): void {
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

export function cancelGuided(): void {
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

export function onSideChosen(): void {
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

export function renderGuided(): void {
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

export function restoreGuided(slot: Slot, m: SavedMeasurement, imageId: string): boolean {
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

/** A pointer went down on a viewport (bindUi): a landmark may follow within CLICK_HELD_MS. */
export function notePointerDown(): void {
  lastImagePointerDown = performance.now();
}

/** A finished measurement's panel entry was clicked: the guide shows it (not while one is marked). */
export function showInGuide(group: GuidedGroup): void {
  if (guidedDraft) return;
  guidedShown = group;
  renderGuided();
}

registerGroupPatch('guided:', (key) => {
  const group = guidedGroups.get(key);
  const ev = group && guidedEvaluate(group);
  if (!ev || !ev.result || !group.imageId) return undefined;
  return {
    body: { points: ev.points, calibration: userCalibrationBody(group.imageId), value: ev.result },
    key: ev.key,
  };
});
