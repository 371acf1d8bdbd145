/** The viewport grid (1x1, 1x2, 2x1, 2x2), its cells and the active one. */
import { Enums } from '@cornerstonejs/core';
import { stopCine, updateControls } from './viewer-controls';
import { followScroll, linkViewports } from './viewer-link';
import { updateOverlay } from './viewer-overlay';
import { showSeries } from './viewer-series';
import { $, ENGINE_ID, seriesByUid, type SeriesInfo, type Slot, state, viewportOf } from './viewer-state';

const LAYOUTS: Record<string, number> = { '1x1': 1, '1x2': 2, '2x1': 2, '2x2': 4 };

let firstImageMs: number | undefined;

function setActive(index: number): void {
  state.active = index;
  state.slots.forEach((s, i) => s.element.parentElement!.classList.toggle('active', i === index));
  updateControls();
}

export function buildLayout(name: string): void {
  const count = LAYOUTS[name] ?? 1;
  const previous = state.slots.map((s) => s.series);
  state.slots.forEach((s) => stopCine(s));
  for (const s of state.slots) {
    state.toolGroup.removeViewports(ENGINE_ID, s.viewportId);
    state.engine.disableElement(s.viewportId);
  }
  const grid = $('#viewports');
  grid.className = `layout-${name}`;
  grid.replaceChildren();
  state.slots = [];
  for (let i = 0; i < count; i++) {
    const cell = document.createElement('div');
    cell.className = 'viewport';
    const element = document.createElement('div');
    element.style.width = '100%';
    element.style.height = '100%';
    element.oncontextmenu = (e) => e.preventDefault();
    element.dataset.viewport = String(i);
    const overlay = document.createElement('div');
    overlay.className = 'overlay';
    const overlayBr = document.createElement('div');
    overlayBr.className = 'overlay br';
    const edges = {} as Slot['edges'];
    for (const edge of ['left', 'right', 'top', 'bottom'] as const) {
      const span = document.createElement('span');
      span.className = `orient orient-${edge}`;
      span.hidden = true;
      edges[edge] = span;
    }
    cell.append(element, overlay, overlayBr, ...Object.values(edges));
    grid.append(cell);
    const slot: Slot = { viewportId: `vp${i}`, element, overlay, overlayBr, edges, playing: false };
    state.slots.push(slot);
    cell.addEventListener('pointerdown', () => setActive(i), true);
    cell.addEventListener('dragover', (e) => e.preventDefault());
    cell.addEventListener('drop', (e) => {
      e.preventDefault();
      const series = seriesByUid.get(e.dataTransfer?.getData('text/x-series') ?? '');
      if (series) void showSeries(slot, series);
    });
    element.addEventListener(Enums.Events.STACK_NEW_IMAGE, () => followScroll(slot));
    element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      if (firstImageMs === undefined) {
        firstImageMs = performance.now();
        document.body.dataset.firstImageMs = firstImageMs.toFixed(0);
      }
      if (!slot.defaultVoi) slot.defaultVoi = viewportOf(slot).getProperties().voiRange;
      updateOverlay(slot);
    });
  }
  state.engine.setViewports(
    state.slots.map((s) => ({ viewportId: s.viewportId, type: Enums.ViewportType.STACK, element: s.element })),
  );
  for (const s of state.slots) state.toolGroup.addViewport(s.viewportId, ENGINE_ID);
  linkViewports();
  document.querySelectorAll<HTMLButtonElement>('[data-layout]').forEach((b) => {
    b.classList.toggle('active', b.dataset.layout === name);
  });
  setActive(Math.min(state.active, count - 1));
  // Keep what was shown; fill new cells with the next series (the current study's first; with a
  // prior, the right-hand cell of 1x2 gets the prior's series most like the current one).
  const current = [...seriesByUid.values()].filter((x) => !x.prior);
  const prior = [...seriesByUid.values()].filter((x) => x.prior);
  const fill: (SeriesInfo | undefined)[] = prior.length
    ? [current[0], pickPrior(prior, current[0]), current[1], prior[1]]
    : current;
  state.slots.forEach((s, i) => {
    const series = previous[i] ?? fill[i];
    if (series) void showSeries(s, series);
  });
}

/** The prior's series to compare with `current`: same modality and description, else same modality. */
function pickPrior(prior: SeriesInfo[], current: SeriesInfo | undefined): SeriesInfo | undefined {
  if (!current) return prior[0];
  return (
    prior.find((p) => p.modality === current.modality && p.description === current.description) ??
    prior.find((p) => p.modality === current.modality) ??
    prior[0]
  );
}
