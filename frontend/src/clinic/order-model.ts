/** Shapes of the orders and catalog API (src/vetpacs/orders/schemas.py) used by the front-desk screens. */

export type Priority = 'ROUTINE' | 'URGENT' | 'STAT';

export interface ProcedureRead {
  id: number;
  code: string;
  coding_scheme: string;
  name: string;
  modality: string;
  body_region: string;
  default_views: string[];
  species_codes: string[];
  duration_minutes: number;
  fee_code: string;
  active: boolean;
}

export type OpeningHours = Record<string, string[][]>;

export interface StationRead {
  id: number;
  name: string;
  ae_title: string;
  station_name: string;
  modality: string;
  location: string;
  opening_hours: OpeningHours;
  active: boolean;
}

export interface StepRead {
  id: number;
  order_id: number;
  procedure_id: number;
  procedure_code: string;
  procedure_name: string;
  requested_procedure_id: string;
  step_id: string;
  station_id: number | null;
  station_name: string | null;
  modality: string;
  start: string | null; // local clinic time, 'YYYY-MM-DDTHH:MM:SS'
  end: string | null;
  duration_minutes: number;
  status: string;
  protocol: string;
}

export interface OrderRead {
  id: number;
  accession_number: string;
  animal_id: number;
  placer_order_number: string;
  requesting_vet: string;
  clinical_question: string;
  priority: Priority;
  body_region: string;
  laterality: string;
  status: string;
  study_instance_uid: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  steps: StepRead[];
}

export interface DayEntry {
  step: StepRead;
  accession_number: string;
  order_status: string;
  priority: Priority;
  animal_id: number;
  animal_name: string;
  species?: string;
  owner?: string;
  study_uid?: string | null;
  images?: number;
}

export interface StationDay {
  station: StationRead;
  day: string;
  always_open: boolean;
  opening_hours: string[][];
  entries: DayEntry[];
}

export const PRIORITIES: Priority[] = ['ROUTINE', 'URGENT', 'STAT'];
export const MODALITIES = ['DX', 'CR', 'US', 'CT', 'MR', 'IO', 'RF', 'NM', 'XA', 'ES'];
export const BODY_REGIONS = ['CHEST', 'ABDOMEN', 'PELVIS', 'SPINE', 'HEAD', 'SKULL', 'JAW', 'HEART', 'BRAIN', 'KNEE', 'EXTREMITY', 'WHOLEBODY'];
export const ORDER_STATUSES = [
  'ordered',
  'scheduled',
  'arrived',
  'in_progress',
  'completed',
  'images_received',
  'reported',
  'billed',
  'cancelled',
  'no_show',
  'discontinued',
];

/** '2026-11-29T09:30:00' -> '09:30' */
export const hhmm = (local: string | null): string => (local ? local.slice(11, 16) : '');

/** Procedures grouped by modality, groups and entries by name. */
export function byModality(procedures: ProcedureRead[]): [string, ProcedureRead[]][] {
  const groups = new Map<string, ProcedureRead[]>();
  for (const p of procedures) groups.set(p.modality, [...(groups.get(p.modality) ?? []), p]);
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([m, list]) => [m, list.sort((x, y) => x.name.localeCompare(y.name))]);
}
