/**
 * Cornerstone's annotation events, routed: a landmark of a VHS or guided measurement to its
 * controller, a calibration to viewer-calibration.ts, anything else to its saved row.
 */
import * as csTools from '@cornerstonejs/tools';
import { onCalibrateCompleted, recalibrate } from './viewer-calibration';
import {
  GuidedLineTool,
  guidedPart,
  guidedPartRemoved,
  GuidedPointTool,
  onGuidedPartCompleted,
  renderGuided,
} from './viewer-guided-ui';
import { deleteOnServer, evaluate, records, saveAnnotation, schedulePatch, userCalibrations } from './viewer-measure';
import { setStatus } from './viewer-state';
import { CALIBRATE } from './viewer-tools';
import {
  onVhsPartCompleted,
  renderGuide,
  VhsAxisTool,
  VhsLandmarkTool,
  vhsPart,
  vhsPartRemoved,
} from './viewer-vhs-ui';

type AnnotationEvent = Event & { detail: { annotation?: csTools.Types.Annotation; annotationUID?: string } };

/** A finished annotation: a calibration asks its size, a VHS or guided landmark joins its measurement, others are saved. */
export function onAnnotationCompleted(event: Event): void {
  const annotation = (event as AnnotationEvent).detail.annotation;
  const toolName = annotation?.metadata?.toolName;
  if (!annotation) return;
  if (toolName === CALIBRATE) void onCalibrateCompleted(annotation);
  else if (toolName === VhsLandmarkTool.toolName || toolName === VhsAxisTool.toolName) onVhsPartCompleted(annotation);
  else if (toolName === GuidedPointTool.toolName || toolName === GuidedLineTool.toolName) onGuidedPartCompleted(annotation);
  else void saveAnnotation(annotation);
}

export function onAnnotationModified(event: Event): void {
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

export function onAnnotationRemoved(event: Event): void {
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
