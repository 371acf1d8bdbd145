/** The user's calibration against a marker of known size (tool Calibrate, key M): one per image. */
import * as csTools from '@cornerstonejs/tools';
import { ask, validateMillimetres } from './tools-dialog';
import { guidedGroups, renderGuided } from './viewer-guided-ui';
import {
  createOnServer,
  evaluate,
  handlesOfAnnotation,
  records,
  refreshMeasurementList,
  schedulePatch,
  userCalibrations,
} from './viewer-measure';
import { updateOverlay } from './viewer-overlay';
import { renderAll, setStatus, state } from './viewer-state';
import { CALIBRATE } from './viewer-tools';
import { vhsGroups } from './viewer-vhs-ui';

export class CalibrateTool extends csTools.LengthTool {
  static toolName = CALIBRATE;
}

export async function onCalibrateCompleted(annotation: csTools.Types.Annotation): Promise<void> {
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

/** The user calibration of an image changed: its measurements are re-saved with it, the overlay says so. */
export function recalibrate(imageId: string): void {
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
