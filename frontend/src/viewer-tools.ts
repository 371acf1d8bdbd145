/**
 * Tool selection: the primary (left button, one finger) tool, with middle/right button and touch
 * bindings for pan and zoom kept whatever is selected; the magnifier tool.
 */
import { getEnabledElement, getShouldUseCPURendering, type Types } from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { state } from './viewer-state';

export const CALIBRATE = 'Calibrate';

/**
 * Cornerstone's magnifier (a loupe re-rendered from the image, not an enlarged screenshot). It copies
 * the viewport's properties into its own viewport, VOI LUT function included, which Cornerstone's
 * CPU path refuses (the path we use without a GPU, render-backend.ts): that one property is left
 * out there (the CPU path draws LINEAR only anyway).
 */
export class MagnifierTool extends csTools.MagnifyTool {
  static toolName = 'Magnify';

  constructor(...args: ConstructorParameters<typeof csTools.MagnifyTool>) {
    super(...args);
    const base = this.preMouseDownCallback;
    this.preMouseDownCallback = (evt) => {
      const viewport = getEnabledElement(evt.detail.element)?.viewport as Types.IStackViewport | undefined;
      if (!viewport || !getShouldUseCPURendering()) return base(evt);
      const original = viewport.getProperties;
      viewport.getProperties = () => {
        const { VOILUTFunction: _unused, ...rest } = original.call(viewport);
        return rest;
      };
      try {
        return base(evt);
      } finally {
        viewport.getProperties = original;
      }
    };
  }
}

const PRIMARY_TOOLS = [
  'WindowLevel',
  'Pan',
  'Zoom',
  'Length',
  'Angle',
  'CobbAngle',
  'EllipticalROI',
  'RectangleROI',
  'ArrowAnnotate',
  'Label',
  'Magnify',
  CALIBRATE,
  'VhsLandmark',
  'VhsAxis',
  'GuidedPoint',
  'GuidedLine',
];

/**
 * The bindings Pan and Zoom keep whatever the primary tool: middle button and three fingers pan,
 * right button and a two-finger pinch zoom. One finger acts as the left button (Cornerstone).
 */
export function secondaryBindings(tool: string): csTools.Types.IToolBinding[] {
  const { MouseBindings } = csTools.Enums;
  if (tool === 'Pan') return [{ mouseButton: MouseBindings.Auxiliary }, { numTouchPoints: 3 }];
  if (tool === 'Zoom') return [{ mouseButton: MouseBindings.Secondary }, { numTouchPoints: 2 }];
  return [];
}

export function selectTool(name: string): void {
  const { Enums: TE } = csTools;
  for (const tool of PRIMARY_TOOLS) {
    if (tool === name) continue;
    // Keep the secondary bindings (middle = pan, right = zoom); only the primary moves.
    const bindings = secondaryBindings(tool);
    if (bindings.length) state.toolGroup.setToolActive(tool, { bindings });
    else state.toolGroup.setToolPassive(tool);
  }
  state.toolGroup.setToolActive(name, {
    bindings: [{ mouseButton: TE.MouseBindings.Primary }, ...secondaryBindings(name)],
  });
  document.querySelectorAll<HTMLButtonElement>('[data-tool]').forEach((b) => {
    b.classList.toggle('active', b.dataset.tool === name);
  });
}
