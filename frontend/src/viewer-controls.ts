/**
 * What the toolbar and keys do to the active viewport's image: window presets, cine, scroll,
 * rotate, flip, invert and reset.
 */
import { utilities as csUtils } from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { type Preset, presetLabel, presetsFor, presetWindow } from './presets';
import { $, type Slot, state, viewportOf } from './viewer-state';

export function updateControls(): void {
  const slot = state.slots[state.active];
  const select = $<HTMLSelectElement>('#preset');
  select.replaceChildren();
  const presets: Preset[] = presetsFor(slot?.series?.modality ?? '', slot?.series?.bodyPart);
  const header = new Option('Window: default', '');
  select.append(header, ...presets.map((p) => new Option(presetLabel(p), p.name)));
  $('#cine-controls').hidden = !(slot?.series && (slot.series.multiframe || slot.series.modality === 'US' || slot.series.modality === 'XA'));
  $('#cine').textContent = slot?.playing ? 'Stop' : 'Play';
}

export function applyPreset(name: string): void {
  const slot = state.slots[state.active];
  const viewport = viewportOf(slot);
  if (!name) {
    if (slot.defaultVoi) viewport.setProperties({ voiRange: slot.defaultVoi });
  } else {
    const preset = presetsFor(slot.series?.modality ?? '').find((p) => p.name === name);
    if (!preset) return;
    // Radiograph presets are relative to the window the image opened with (presets.ts).
    const { width, center } = presetWindow(preset, slot.defaultVoi ?? viewport.getProperties().voiRange);
    viewport.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(width, center) });
  }
  viewport.render();
}

export function stopCine(slot: Slot): void {
  if (slot.playing) csTools.utilities.cine.stopClip(slot.element);
  slot.playing = false;
}

export function toggleCine(): void {
  const slot = state.slots[state.active];
  if (!slot?.series) return;
  if (slot.playing) stopCine(slot);
  else {
    const fps = Math.max(1, Math.min(60, Number($<HTMLInputElement>('#fps').value) || 15));
    csTools.utilities.cine.playClip(slot.element, { framesPerSecond: fps, loop: true });
    slot.playing = true;
  }
  updateControls();
}

export function scrollActive(delta: number): void {
  const slot = state.slots[state.active];
  if (!slot?.series) return;
  csUtils.scroll(viewportOf(slot), { delta });
}

export function resetActive(): void {
  const slot = state.slots[state.active];
  if (!slot?.series) return;
  const viewport = viewportOf(slot);
  viewport.resetCamera();
  viewport.resetProperties();
  viewport.setViewPresentation({ rotation: 0 });
  delete slot.element.dataset.rotation;
  delete slot.element.dataset.flip;
  if (slot.defaultVoi) viewport.setProperties({ voiRange: slot.defaultVoi, invert: false });
  viewport.render();
  $<HTMLSelectElement>('#preset').value = '';
}

/** Rotate the active image by 90 degrees (clockwise with +1) or flip it; Reset undoes both. */
export function rotateActive(quarterTurns: number): void {
  const slot = state.slots[state.active];
  if (!slot?.series) return;
  const viewport = viewportOf(slot);
  const rotation = (((viewport.getViewPresentation().rotation ?? 0) + 90 * quarterTurns) % 360 + 360) % 360;
  viewport.setViewPresentation({ rotation });
  viewport.render();
  slot.element.dataset.rotation = String(rotation);
}

export function flipActive(horizontal: boolean): void {
  const slot = state.slots[state.active];
  if (!slot?.series) return;
  const viewport = viewportOf(slot);
  const camera = viewport.getCamera();
  if (horizontal) viewport.setCamera({ flipHorizontal: !camera.flipHorizontal });
  else viewport.setCamera({ flipVertical: !camera.flipVertical });
  viewport.render();
  const after = viewport.getCamera();
  slot.element.dataset.flip = `${after.flipHorizontal ? 'H' : ''}${after.flipVertical ? 'V' : ''}`;
}

export function invertActive(): void {
  const slot = state.slots[state.active];
  if (!slot?.series) return;
  const viewport = viewportOf(slot);
  viewport.setProperties({ invert: !viewport.getProperties().invert });
  viewport.render();
}
