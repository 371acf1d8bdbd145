/** The study's saved measurements put back on their images when a series is shown. */
import * as csTools from '@cornerstonejs/tools';
import { isGuidedTool } from './guided';
import { instanceOf, type SavedMeasurement } from './saved';
import { csToolOf, handlesOf } from './tools-measure';
import { restoreGuided } from './viewer-guided-ui';
import {
  buildAnnotation,
  records,
  refreshMeasurementList,
  restoredIds,
  serverState,
  studyListing,
  userCalibrations,
} from './viewer-measure';
import { updateOverlay } from './viewer-overlay';
import { type SeriesInfo, setStatus, type Slot, viewportOf } from './viewer-state';
import { restoreVhs } from './viewer-vhs-ui';

const savedByStudy = new Map<string, Promise<SavedMeasurement[]>>();

/** Put the study's saved measurements of this series back on its images (once per measurement). */
export async function restoreSaved(slot: Slot, series: SeriesInfo): Promise<void> {
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
