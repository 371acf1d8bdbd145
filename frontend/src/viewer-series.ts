/** The series list (thumbnails), each series' image ids and metadata, and showing a series in a viewport. */
import * as csTools from '@cornerstonejs/tools';
import { wadors } from '@cornerstonejs/dicom-image-loader';
import { DICOMWEB, getJson, num, nums, str, TAG } from './dicomweb';
import { calibrationOf } from './geometry';
import { stopCine, updateControls } from './viewer-controls';
import { drawOthers, showOthers } from './viewer-others';
import { orientationOf } from './viewer-overlay';
import { restoreSaved } from './viewer-restore';
import {
  $,
  calibrations,
  orientations,
  seriesByUid,
  type SeriesInfo,
  seriesOfSop,
  setStatus,
  type Slot,
  state,
  viewportOf,
} from './viewer-state';

const PATIENT_BREED = '00102292'; // Patient Breed Description

export async function loadSeriesList(study: string, priorLabel?: string): Promise<SeriesInfo[]> {
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
export async function imageIdsOf(series: SeriesInfo): Promise<string[]> {
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

const NON_IMAGE_MODALITIES = new Set(['SR', 'PR', 'KO', 'DOC']);

export async function showSeries(slot: Slot, series: SeriesInfo): Promise<void> {
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
