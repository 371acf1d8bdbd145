/**
 * The technician's board, as data: the day's bookings per station (GET /api/v1/schedule/day), the
 * status chip a card shows (from the step status, the order status and the images received) and
 * the actions a card offers. Pure functions, tested in frontend/tests/clinic-board.test.ts.
 */

export type StepStatus = 'SCHEDULED' | 'ARRIVED' | 'IN PROGRESS' | 'COMPLETED' | 'DISCONTINUED' | 'CANCELLED';
export type OrderStatus =
  | 'ordered'
  | 'scheduled'
  | 'arrived'
  | 'in_progress'
  | 'completed'
  | 'images_received'
  | 'reported'
  | 'billed'
  | 'cancelled'
  | 'no_show'
  | 'discontinued';
export type Priority = 'ROUTINE' | 'URGENT' | 'STAT';

export interface StationRead {
  id: number;
  name: string;
  ae_title: string;
  station_name: string;
  modality: string;
  location: string;
  opening_hours: Record<string, string[][]>;
  active: boolean;
}

export interface StepRead {
  id: number;
  order_id: number;
  procedure_id: number;
  procedure_code: string;
  procedure_name: string;
  step_id: string;
  station_id: number | null;
  station_name?: string | null;
  modality: string;
  start: string | null; // local clinic time, no offset
  end: string | null;
  duration_minutes: number;
  status: StepStatus;
}

export interface DayEntry {
  step: StepRead;
  accession_number: string;
  order_status: OrderStatus;
  priority: Priority;
  animal_id: number;
  animal_name: string;
  species?: string;
  owner?: string;
  study_uid?: string | null;
  images?: number | null;
}

export interface StationDay {
  station: StationRead;
  day: string;
  always_open: boolean;
  opening_hours: string[][];
  entries: DayEntry[];
}

export type ChipKind = 'scheduled' | 'arrived' | 'in-progress' | 'completed' | 'images' | 'discontinued' | 'cancelled' | 'no-show';

export interface Chip {
  kind: ChipKind;
  label: string;
  tone: '' | 'ok' | 'warn' | 'danger' | 'info';
}

const AFTER_IMAGES: OrderStatus[] = ['images_received', 'reported', 'billed'];

/** The live status of one booking, most advanced first: images beat completed beats in progress... */
export function chipOf(entry: DayEntry): Chip {
  const step = entry.step.status;
  const order = entry.order_status;
  const images = entry.images ?? 0;
  if (order === 'no_show') return { kind: 'no-show', label: 'no-show', tone: 'danger' };
  if (order === 'cancelled' || step === 'CANCELLED') return { kind: 'cancelled', label: 'cancelled', tone: 'danger' };
  if (images > 0) {
    return { kind: 'images', label: `images received (${images} image${images === 1 ? '' : 's'})`, tone: 'ok' };
  }
  if (AFTER_IMAGES.includes(order)) return { kind: 'images', label: 'images received', tone: 'ok' };
  if (step === 'DISCONTINUED' || order === 'discontinued') {
    return { kind: 'discontinued', label: 'discontinued', tone: 'danger' };
  }
  if (step === 'COMPLETED' || order === 'completed') return { kind: 'completed', label: 'completed', tone: 'ok' };
  if (step === 'IN PROGRESS' || order === 'in_progress') {
    return { kind: 'in-progress', label: 'in progress', tone: 'info' };
  }
  if (step === 'ARRIVED' || order === 'arrived') return { kind: 'arrived', label: 'arrived', tone: 'warn' };
  return { kind: 'scheduled', label: 'scheduled', tone: '' };
}

export interface Actions {
  arrived: boolean;
  noShow: boolean;
  images: boolean;
}

/** What a card offers: mirrors the order lifecycle (orders/lifecycle.py) so a click is not refused. */
export function actionsOf(entry: DayEntry): Actions {
  const order = entry.order_status;
  const open = entry.step.status === 'SCHEDULED' || entry.step.status === 'ARRIVED';
  return {
    arrived: open && (order === 'ordered' || order === 'scheduled'),
    noShow: open && (order === 'ordered' || order === 'scheduled' || order === 'arrived'),
    images: Boolean(entry.study_uid) && ((entry.images ?? 0) > 0 || AFTER_IMAGES.includes(order)),
  };
}

/** `2026-11-29T09:30:00` -> `09:30` (local clinic time as the server sends it; no time-zone shift). */
export function clock(value: string | null | undefined): string {
  if (!value) return '';
  const m = /T(\d{2}):(\d{2})/.exec(value);
  return m ? `${m[1]}:${m[2]}` : '';
}

/** `09:30–09:45` */
export function timeRange(step: Pick<StepRead, 'start' | 'end'>): string {
  const start = clock(step.start);
  const end = clock(step.end);
  return start && end ? `${start}–${end}` : start || 'unscheduled';
}

export interface Lane {
  station: StationRead;
  entries: DayEntry[];
  opening: string;
}

/** Opening hours of the day as text: `08:00–12:00, 13:00–17:00`, `always open` or `closed`. */
export function openingText(day: Pick<StationDay, 'always_open' | 'opening_hours'>): string {
  if (day.always_open) return 'always open';
  if (!day.opening_hours.length) return 'closed';
  return day.opening_hours.map(([a, b]) => `${a}–${b}`).join(', ');
}

/**
 * Lanes of the board: stations with bookings (by modality, then name), entries by start time with
 * STAT first among equal times; the stations with nothing booked are returned apart.
 */
export function lanesOf(days: StationDay[], modality = ''): { lanes: Lane[]; idle: StationRead[] } {
  const rank: Record<Priority, number> = { STAT: 0, URGENT: 1, ROUTINE: 2 };
  const lanes: Lane[] = [];
  const idle: StationRead[] = [];
  const sorted = [...days]
    .filter((d) => !modality || d.station.modality === modality)
    .sort((a, b) => a.station.modality.localeCompare(b.station.modality) || a.station.name.localeCompare(b.station.name));
  for (const day of sorted) {
    if (!day.entries.length) {
      idle.push(day.station);
      continue;
    }
    const entries = [...day.entries].sort(
      (a, b) =>
        (a.step.start ?? '').localeCompare(b.step.start ?? '') ||
        rank[a.priority] - rank[b.priority] ||
        a.step.id - b.step.id,
    );
    lanes.push({ station: day.station, entries, opening: openingText(day) });
  }
  return { lanes, idle };
}

/** Counts for the summary line: how many bookings, how many still to come, how many done. */
export function summaryOf(lanes: Lane[]): { total: number; waiting: number; done: number } {
  let total = 0;
  let waiting = 0;
  let done = 0;
  for (const lane of lanes) {
    for (const entry of lane.entries) {
      total += 1;
      const kind = chipOf(entry).kind;
      if (kind === 'scheduled' || kind === 'arrived') waiting += 1;
      if (kind === 'completed' || kind === 'images') done += 1;
    }
  }
  return { total, waiting, done };
}

/** The events after which the board refetches (others do not change what it shows). */
export const BOARD_EVENTS = [
  'order.status_changed',
  'order.created',
  'order.scheduled',
  'order.rescheduled',
  'order.step_scheduled',
  'order.cancelled',
  'step.status_changed',
  'step.scheduled',
  'step.rescheduled',
  'mpps.created',
  'mpps.updated',
  'mpps.completed',
  'mpps.discontinued',
  'study.received',
  'images.received',
  'study.linked',
  'study.unlinked',
  'animal.updated',
];
