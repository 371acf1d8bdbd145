/**
 * The Measurements panel (`#measurement-list`): one entry per measurement with its value, label (✎)
 * and delete (×) buttons; Delete on the selected annotation; the text drawn beside an annotation.
 */
import * as csTools from '@cornerstonejs/tools';
import { type Point, type Result } from './geometry';
import { SAVED_TOOLS } from './saved';
import { ask } from './tools-dialog';
import { imageLines, panelText, TOOL_TITLES } from './tools-measure';
import { describeVhs } from './vhs';
import { guidedEvaluate, guidedGroups, guidedPart, removeGuidedGroup, showInGuide } from './viewer-guided-ui';
import {
  bindMeasurementList,
  evaluate,
  labelOf,
  records,
  refreshMeasurementList,
  schedulePatch,
  shown,
} from './viewer-measure';
import { others } from './viewer-others';
import { $, renderAll, setStatus } from './viewer-state';
import { removeVhsGroup, vhsEvaluate, vhsGroups, vhsPart } from './viewer-vhs-ui';

function renderMeasurementList(): void {
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
      if ((e.target as HTMLElement).closest('button')) return;
      showInGuide(group);
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

export function deleteSelected(): void {
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
export function textLinesFor(data: unknown): string[] | undefined {
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

bindMeasurementList(renderMeasurementList);
