/**
 * "Others" (toolbar): the measurements other users saved on the study, drawn locked with their value
 * as saved and the author's name; never editable here.
 */
import * as csTools from '@cornerstonejs/tools';
import { instanceOf, measurementsApi, type SavedMeasurement } from './saved';
import { csToolOf, handlesOf } from './tools-measure';
import { buildAnnotation, refreshMeasurementList, studyListing } from './viewer-measure';
import { $, renderAll, type SeriesInfo, setStatus, type Slot, state, viewportOf } from './viewer-state';

/** annotationUID -> another user's saved measurement, drawn locked with the server's value. */
export const others = new Map<string, SavedMeasurement>();

const othersByStudy = new Map<string, Promise<SavedMeasurement[]>>();

export let showOthers = false;

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
export async function drawOthers(slot: Slot, series: SeriesInfo): Promise<void> {
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
export function toggleOthers(): void {
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
