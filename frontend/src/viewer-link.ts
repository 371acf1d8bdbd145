/** Linked viewports (toolbar "Link", key K): scrolling, zoom and pan follow (sync.ts). */
import { metaData } from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { followIndex, type SlicePlane, type Vec3 } from './sync';
import { $, ENGINE_ID, type Slot, state, viewportOf } from './viewer-state';

// With "Link" on (the default when a prior is open), scrolling one viewport moves the others to
// the same relative position in their stacks, and zoom and pan follow (Cornerstone's zoom/pan
// synchronizer). Relative position, not patient position: a prior CT may have another slice count.
export let linked = false;

let zoomPan: ReturnType<typeof csTools.synchronizers.createZoomPanSynchronizer> | undefined;

const followers = new Set<Slot>(); // viewports we are moving: their new image is not a user's scroll

export function setLinked(on: boolean): void {
  linked = on;
  $('#link').classList.toggle('active', on);
  $('#link').setAttribute('aria-pressed', String(on));
  linkViewports();
}

export function linkViewports(): void {
  zoomPan ??= csTools.synchronizers.createZoomPanSynchronizer('vetpacs-zoom-pan');
  for (const v of [...zoomPan.getSourceViewports()]) zoomPan.remove(v);
  if (!linked || state.slots.length < 2) return;
  for (const s of state.slots) zoomPan.add({ renderingEngineId: ENGINE_ID, viewportId: s.viewportId });
}

const planes = new Map<string, SlicePlane | undefined>(); // imageId -> its plane (sync.ts)

/** The image's plane from its metadata (Frame of Reference, Image Position and Orientation). */
function planeOf(imageId: string): SlicePlane | undefined {
  if (planes.has(imageId)) return planes.get(imageId);
  const m = metaData.get('imagePlaneModule', imageId) as
    | { frameOfReferenceUID?: string; imagePositionPatient?: number[]; rowCosines?: number[]; columnCosines?: number[] }
    | undefined;
  const ok = (v: number[] | undefined): v is number[] => Array.isArray(v) && v.length === 3 && v.every(Number.isFinite);
  const plane =
    m && m.frameOfReferenceUID && ok(m.imagePositionPatient) && ok(m.rowCosines) && ok(m.columnCosines)
      ? {
          frameOfReference: m.frameOfReferenceUID,
          position: m.imagePositionPatient as Vec3,
          row: m.rowCosines as Vec3,
          column: m.columnCosines as Vec3,
        }
      : undefined;
  planes.set(imageId, plane);
  return plane;
}

/** Linked scrolling: the other stacks follow, by patient position in one frame of reference, else
 * by relative place (sync.ts); the viewport's dataset says which. */
export function followScroll(source: Slot): void {
  if (followers.delete(source)) return;
  if (!linked || state.slots.length < 2) return;
  const from = viewportOf(source);
  const fromIds = from.getImageIds();
  if (fromIds.length < 2) return;
  const fromPlanes = fromIds.map(planeOf);
  for (const other of state.slots) {
    if (other === source || !other.series) continue;
    const to = viewportOf(other);
    const toIds = to.getImageIds();
    if (toIds.length < 2) continue;
    const follow = followIndex(fromPlanes, from.getCurrentImageIdIndex(), toIds.map(planeOf));
    other.element.dataset.followedBy = follow.by;
    if (to.getCurrentImageIdIndex() !== follow.index) {
      followers.add(other);
      void to.setImageIdIndex(follow.index);
    }
  }
}
