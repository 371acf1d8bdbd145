/**
 * The viewer's shared state: the open study, the rendering engine and tool group, the viewport
 * slots and which is active, and what was read from the headers (series, spacing, orientation,
 * key image flags). Every viewer-*.ts module reads and changes it here; none imports main.ts.
 */
import { type RenderingEngine, type Types } from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import { type CalibrationInput } from './geometry';
import { type OrientationSource, type Projection } from './orientation';

export interface ViewerState {
  studyUid: string;
  priorUidOpen: string; // the prior's Study Instance UID when one is open
  priorLabel: string; // 'PRIOR 2025-06-01' when a prior study is open beside the current one
  engine: RenderingEngine; // set by main() before any viewport exists
  toolGroup: csTools.Types.IToolGroup; // set by main() (setupTools)
  slots: Slot[];
  active: number; // index of the active slot
  studySpecies: string; // Patient Species Description of the open study
  studyBreed: string; // Patient Breed Description of the open study (its first instance read)
}

export const state: ViewerState = {
  studyUid: '',
  priorUidOpen: '',
  priorLabel: '',
  engine: undefined as unknown as RenderingEngine,
  toolGroup: undefined as unknown as csTools.Types.IToolGroup,
  slots: [],
  active: 0,
  studySpecies: '',
  studyBreed: '',
};

export const ENGINE_ID = 'vetpacs';

export interface SeriesInfo {
  study: string; // its Study Instance UID (the current study or the prior)
  prior: boolean;
  uid: string;
  modality: string;
  description: string;
  number: number;
  imageIds: string[];
  multiframe: boolean;
  bodyPart?: string; // Body Part Examined of its first instance (window presets by region)
}

export interface Slot {
  viewportId: string;
  element: HTMLDivElement;
  overlay: HTMLDivElement;
  overlayBr: HTMLDivElement;
  /** Orientation labels at the left, right, top and bottom edges. */
  edges: Record<'left' | 'right' | 'top' | 'bottom', HTMLSpanElement>;
  series?: SeriesInfo;
  defaultVoi?: Types.VOIRange;
  playing: boolean;
}

export const calibrations = new Map<string, CalibrationInput>(); // imageId -> how lengths are measured on it

/** imageId -> what its header says about orientation and projection (orientation.ts). */
export const orientations = new Map<string, { source?: OrientationSource; projection?: Projection }>();

export const seriesByUid = new Map<string, SeriesInfo>();

export const keyImages = new Set<string>(); // keyOf(sop, frame) of the frames flagged by this user

export const seriesOfSop = new Map<string, string>(); // SOP Instance UID -> Series Instance UID

export const $ = <T extends HTMLElement>(sel: string): T => document.querySelector(sel) as T;

export function setStatus(text: string): void {
  $('#status').textContent = text;
}

export function viewportOf(slot: Slot): Types.IStackViewport {
  return state.engine.getViewport(slot.viewportId) as Types.IStackViewport;
}

export function renderAll(): void {
  state.engine?.render();
}
