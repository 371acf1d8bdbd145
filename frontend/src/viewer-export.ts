/** Export (toolbar): the user's measurements stored in the study as a DICOM SR and presentation state. */
import { describeExport } from './keyimages';
import { measurementsApi } from './saved';
import { markKeyImages } from './viewer-keyimages-ui';
import { loadSeriesList } from './viewer-series';
import { $, setStatus, state } from './viewer-state';

export async function exportStudy(): Promise<void> {
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
