/** Key images (keyimages.ts): flag with F or "★ Key", markers on thumbnails and overlays, ] and [ to step. */
import { getJson, str, TAG } from './dicomweb';
import { countBySeries, flaggedKeys, keyOf, type KeyStop, stepKeyImage } from './keyimages';
import { instanceOf, measurementsApi } from './saved';
import { studyListing } from './viewer-measure';
import { updateOverlay } from './viewer-overlay';
import { imageIdsOf, showSeries } from './viewer-series';
import { $, keyImages, seriesByUid, seriesOfSop, setStatus, state, viewportOf } from './viewer-state';

/** The flags of a study from the server; marks the thumbnails and overlays. */
export async function loadKeyImages(study: string): Promise<void> {
  let listing: Awaited<ReturnType<typeof measurementsApi.list>>;
  try {
    listing = await studyListing(study);
  } catch (e) {
    setStatus(`Key images could not be loaded: ${(e as Error).message}`);
    return;
  }
  const flagged = flaggedKeys(listing.key_images);
  for (const k of flagged) keyImages.add(k);
  const unknown = [...flagged].some((k) => !seriesOfSop.has(k.slice(0, k.lastIndexOf('|'))));
  if (unknown) {
    try {
      for (const inst of await getJson(`/studies/${study}/instances?includefield=0020000E`)) {
        seriesOfSop.set(str(inst, TAG.SOPInstanceUID), str(inst, TAG.SeriesInstanceUID));
      }
    } catch (e) {
      setStatus(`Key images: the study's instances could not be listed: ${(e as Error).message}`);
    }
  }
  markKeyImages();
}

/** Thumbnail markers (with the number of key images in the series) and the overlays. */
export function markKeyImages(): void {
  const counts = countBySeries(keyImages, (sop) => seriesOfSop.get(sop));
  document.querySelectorAll<HTMLButtonElement>('.thumb').forEach((b) => {
    const n = counts.get(b.dataset.series ?? '') ?? 0;
    let marker = b.querySelector<HTMLSpanElement>('.key-marker');
    if (n && !marker) {
      marker = document.createElement('span');
      marker.className = 'key-marker';
      b.prepend(marker);
    }
    if (marker) {
      marker.hidden = n === 0;
      marker.textContent = `★ ${n}`;
      marker.title = `${n} key image${n === 1 ? '' : 's'} in this series`;
    }
    b.dataset.keyImages = String(n);
  });
  for (const s of state.slots) if (s.series) updateOverlay(s);
  const slot = state.slots[state.active];
  const where = slot?.series && instanceOf(viewportOf(slot).getCurrentImageId() ?? '');
  const on = Boolean(where && keyImages.has(keyOf(where.sop, where.frame)));
  $('#key-image').classList.toggle('active', on);
  $('#key-image').setAttribute('aria-pressed', String(on));
}

/** Flag (or unflag) the active viewport's image as a key image, on the server first. */
export async function toggleKeyImage(): Promise<void> {
  const slot = state.slots[state.active];
  const imageId = slot?.series ? viewportOf(slot).getCurrentImageId() : undefined;
  const where = imageId ? instanceOf(imageId) : undefined;
  if (!where) {
    setStatus('Key image NOT flagged: no image of the archive in this viewport');
    return;
  }
  const key = keyOf(where.sop, where.frame);
  const flagged = !keyImages.has(key);
  try {
    const row = await measurementsApi.keyImage(where.sop, where.frame, flagged);
    if (row.flagged) keyImages.add(key);
    else keyImages.delete(key);
    seriesOfSop.set(where.sop, where.series);
    setStatus(row.flagged ? 'Key image flagged' : 'Key image flag removed');
  } catch (e) {
    setStatus(`Key image NOT ${flagged ? 'flagged' : 'unflagged'}: ${(e as Error).message}`);
  }
  markKeyImages();
}

/** Go to the next (1) or previous (-1) key image of the open study, across its series, in the
 * active viewport (keys `]` and `[`); wraps around. */
export async function stepKeyImages(dir: 1 | -1): Promise<void> {
  const slot = state.slots[state.active];
  if (!slot) return;
  const order = [...seriesByUid.values()].filter((s) => !s.prior);
  const stops: KeyStop[] = [];
  for (const series of order) {
    const has = [...keyImages].some((k) => seriesOfSop.get(k.slice(0, k.lastIndexOf('|'))) === series.uid);
    if (!has) continue;
    const ids = await imageIdsOf(series);
    ids.forEach((id, index) => {
      const where = instanceOf(id);
      if (where && keyImages.has(keyOf(where.sop, where.frame))) stops.push({ series: series.uid, index });
    });
  }
  const viewport = viewportOf(slot);
  const at: KeyStop = { series: slot.series?.prior ? '' : (slot.series?.uid ?? ''), index: slot.series ? viewport.getCurrentImageIdIndex() : -1 };
  const to = stepKeyImage(stops, order.map((s) => s.uid), at, dir);
  if (!to) {
    setStatus('No key image flagged in this study (F flags the image on screen)');
    return;
  }
  const series = seriesByUid.get(to.series)!;
  if (slot.series?.uid !== series.uid) await showSeries(slot, series);
  await viewportOf(slot).setImageIdIndex(to.index);
  const n = stops.findIndex((s) => s.series === to.series && s.index === to.index) + 1;
  setStatus(`Key image ${n} of ${stops.length}`);
}
