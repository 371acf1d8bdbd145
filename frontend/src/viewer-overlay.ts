/**
 * The viewport overlays: series, image number, projection, key image, calibration, window and zoom;
 * the orientation letters at the edges (orientation.ts).
 */
import { type Types, utilities as csUtils } from '@cornerstonejs/core';
import { type DicomJson, nums, str, TAG } from './dicomweb';
import { lengthUnit, scaleFrom } from './geometry';
import { edgeLabels, orientationSource, type OrientationSource, type Projection, projectionName } from './orientation';
import { keyOf } from './keyimages';
import { instanceOf } from './saved';
import { userCalibrations } from './viewer-measure';
import { $, calibrations, keyImages, orientations, type Slot, state, viewportOf } from './viewer-state';

const ORIENTATION_TAG = {
  AnatomicalOrientationType: '00102210',
  ImageOrientationPatient: '00200037',
  PatientOrientation: '00200020',
  ViewCodeSequence: '00540220',
  CodeMeaning: '00080104',
  ViewPosition: '00185101',
  ImageLaterality: '00200062',
  Laterality: '00200060',
} as const;

/** Orientation (IOP, else Patient Orientation) and projection name from an instance's metadata. */
export function orientationOf(meta: DicomJson): { source?: OrientationSource; projection?: Projection } {
  const T = ORIENTATION_TAG;
  const aot = str(meta, T.AnatomicalOrientationType);
  const po = (meta[T.PatientOrientation]?.Value ?? []).map((v) => String(v));
  const source = orientationSource(aot, nums(meta, T.ImageOrientationPatient), po.length ? po : undefined);
  const viewCode = meta[T.ViewCodeSequence]?.Value?.[0] as DicomJson | undefined;
  const projection = projectionName({
    scheme: source?.scheme ?? (aot.trim().toUpperCase() === 'QUADRUPED' ? 'QUADRUPED' : 'BIPED'),
    viewCodeMeaning: viewCode ? str(viewCode, T.CodeMeaning) : undefined,
    viewPosition: str(meta, T.ViewPosition),
    bodyPart: str(meta, TAG.BodyPartExamined),
    laterality: str(meta, T.ImageLaterality) || str(meta, T.Laterality),
    orientationCodes: po,
  });
  return { source, projection };
}

/** Edge labels of the slot's current image, from where screen right and down point in the image. */
function updateEdges(slot: Slot, viewport: Types.IStackViewport, imageId: string | undefined): void {
  const source = imageId ? orientations.get(imageId)?.source : undefined;
  let labels: ReturnType<typeof edgeLabels>;
  if (source && imageId) {
    try {
      const canvas = viewport.canvas;
      const cx = canvas.clientWidth / 2;
      const cy = canvas.clientHeight / 2;
      const w0 = viewport.canvasToWorld([cx, cy]);
      const wr = viewport.canvasToWorld([cx + 1, cy]);
      const wd = viewport.canvasToWorld([cx, cy + 1]);
      const i0 = csUtils.worldToImageCoords(imageId, w0);
      const ir = csUtils.worldToImageCoords(imageId, wr);
      const id = csUtils.worldToImageCoords(imageId, wd);
      if (i0 && ir && id) {
        const delta = (a: Types.Point3, b: Types.Point3): [number, number, number] => [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        labels = edgeLabels(source, {
          rightInImage: [ir[0] - i0[0], ir[1] - i0[1]],
          downInImage: [id[0] - i0[0], id[1] - i0[1]],
          rightInPatient: source.iop ? delta(w0, wr) : undefined,
          downInPatient: source.iop ? delta(w0, wd) : undefined,
        });
      }
    } catch (e) {
      console.warn('orientation labels:', e);
    }
  }
  for (const edge of ['left', 'right', 'top', 'bottom'] as const) {
    const el = slot.edges[edge];
    el.textContent = labels?.[edge].text ?? '';
    el.title = labels?.[edge].title ?? '';
    el.hidden = !labels;
  }
  slot.element.dataset.orientation = source?.scheme ?? '';
}

export function updateOverlay(slot: Slot): void {
  const viewport = viewportOf(slot);
  if (!slot.series || !viewport) return;
  const total = viewport.getImageIds().length;
  const index = viewport.getCurrentImageIdIndex();
  const { voiRange, invert } = viewport.getProperties();
  const lines = [`${slot.series.modality} ${slot.series.number} ${slot.series.description}`];
  if (slot.series.prior) lines.unshift(state.priorLabel);
  slot.overlay.dataset.study = slot.series.study;
  const imageId = viewport.getCurrentImageId();
  const projection = imageId ? orientations.get(imageId)?.projection : undefined;
  if (projection) lines.push(projection.text);
  slot.overlay.dataset.projection = projection?.text ?? '';
  slot.overlay.title = projection?.title ?? '';
  lines.push(`Im: ${index + 1}/${total}`);
  const where = imageId ? instanceOf(imageId) : undefined;
  const isKey = Boolean(where && keyImages.has(keyOf(where.sop, where.frame)));
  if (isKey) lines.push('★ Key image');
  slot.overlay.dataset.keyImage = String(isKey);
  if (state.slots.indexOf(slot) === state.active) {
    $('#key-image').classList.toggle('active', isKey);
    $('#key-image').setAttribute('aria-pressed', String(isKey));
  }
  updateEdges(slot, viewport, imageId);
  const calibration = imageId ? calibrations.get(imageId) : undefined;
  const user = imageId ? userCalibrations.get(imageId) : undefined;
  if (user) lines.push(`Calibrated (user marker, ${user.known_mm} mm)`);
  else if (calibration) {
    const unit = lengthUnit(scaleFrom(calibration));
    lines.push(
      unit === 'mm'
        ? 'Calibrated (Pixel Spacing)'
        : unit === 'detector_mm'
          ? 'Detector mm (Imager Pixel Spacing only)'
          : 'Not calibrated (px)',
    );
  }
  slot.overlay.textContent = lines.join('\n');
  const wl = voiRange ? csUtils.windowLevel.toWindowLevel(voiRange.lower, voiRange.upper) : undefined;
  const zoom = viewport.getZoom();
  slot.overlayBr.textContent = [
    wl ? `W: ${Math.round(wl.windowWidth)} L: ${Math.round(wl.windowCenter)}` : '',
    // The CPU drawing path has no scale until its first image is displayed.
    `${Number.isFinite(zoom) ? `Zoom: ${zoom.toFixed(2)}` : ''}${invert ? '  Inverted' : ''}`,
  ].join('\n');
  slot.overlay.dataset.index = String(index + 1);
  slot.overlayBr.dataset.ww = wl ? String(Math.round(wl.windowWidth)) : '';
  slot.overlayBr.dataset.wc = wl ? String(Math.round(wl.windowCenter)) : '';
}
