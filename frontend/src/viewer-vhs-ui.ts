/**
 * The guided vertebral heart score (`#vhs-guide`, vhs.ts): ladder landmarks, then the long and the
 * short axis; one saved row (record key 'vhs:' + its key). It keeps its own guide: it has species and
 * breed choices the other guided tools do not need.
 */
import { utilities as csUtils } from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { type Point, roundTenth, scaleFrom, vertebralUnits } from './geometry';
import { type SavedMeasurement } from './saved';
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
  buildAnnotation,
  calibrationFor,
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

export class VhsLandmarkTool extends csTools.ProbeTool {
  static toolName = 'VhsLandmark';
}

export class VhsAxisTool extends csTools.LengthTool {
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

export const vhsGroups = new Map<string, VhsGroup>();

export const vhsPart = new Map<string, VhsGroup>(); // annotationUID -> its VHS

let vhsDraft: VhsGroup | undefined; // the VHS being marked

let vhsShown: VhsGroup | undefined; // the VHS whose result the guide shows

function vhsStep(group: VhsGroup | undefined): VhsStep {
  if (!group || group.done) return 'done';
  if (!group.ladderDone) return 'ladder';
  if (!group.long) return 'long';
  return 'short';
}

export function vhsEvaluate(group: VhsGroup): GroupEvaluation | undefined {
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

export function vhsTextLines(data: unknown, kind: 'landmark' | 'axis'): string[] | undefined {
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

export function startVhs(): void {
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

export function onVhsPartCompleted(annotation: csTools.Types.Annotation): void {
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

export function removeVhsGroup(group: VhsGroup): void {
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
export function vhsPartRemoved(group: VhsGroup, uid: string): void {
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

export function cancelVhs(): void {
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

export function onSpeciesChosen(): void {
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

export function onBreedChosen(): void {
  const group = vhsDraft ?? vhsShown;
  if (!group) return;
  group.breed = $<HTMLSelectElement>('#vhs-breed').value;
  if (group.done) schedulePatch(`vhs:${group.key}`);
  renderGuide();
  refreshMeasurementList();
}

export function renderGuide(): void {
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
export function ladderDone(): void {
  if (!vhsDraft || vhsDraft.ladder.length < 2) return;
  vhsDraft.ladderDone = true;
  renderGuide();
  resumeVhs();
}

export function undoVhs(): void {
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

export function restoreVhs(
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

registerGroupPatch('vhs:', (key) => {
  const group = vhsGroups.get(key);
  const ev = group && vhsEvaluate(group);
  if (!ev || !ev.result || !group.imageId) return undefined;
  return {
    body: { points: ev.points, calibration: userCalibrationBody(group.imageId), value: ev.result },
    key: ev.key,
  };
});
