/**
 * Time arithmetic of the schedule and the order form, in local clinic time: minutes since
 * midnight, free slots of a station's day, the visible range of the day view, day stepping.
 */
import type { StationDay } from './order-model';

export const toMinutes = (hm: string): number => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3, 5));

/** '2026-11-29T09:30:00' -> 570 */
export const minutesOfLocal = (local: string): number => toMinutes(local.slice(11, 16));

export function fmtMinutes(minutes: number): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

/** The naive local start the API takes: '2026-11-29' + 570 -> '2026-11-29T09:30:00'. */
export const localStart = (day: string, minutes: number): string => `${day}T${fmtMinutes(minutes)}:00`;

export const snap = (minutes: number, step = 5): number => Math.round(minutes / step) * step;

/** 'YYYY-MM-DD' moved by n days (calendar arithmetic in UTC: no daylight saving surprises). */
export function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** The open intervals of a station's day in minutes; always open: the whole day. */
export function openIntervals(day: Pick<StationDay, 'always_open' | 'opening_hours'>): [number, number][] {
  if (day.always_open) return [[0, 24 * 60]];
  return day.opening_hours.map(([a, b]) => [toMinutes(a), toMinutes(b)]);
}

type Busy = { step: { id: number; start: string | null; end: string | null } };

/**
 * Start times (minutes, every `every` minutes) where `duration` fits inside one open interval
 * without overlapping a booking (the step being moved, `ignoreStep`, does not count); with
 * `notBefore`, only starts at or after it (e.g. now, for today).
 */
export function freeSlots(
  day: Pick<StationDay, 'always_open' | 'opening_hours'> & { entries: Busy[] },
  duration: number,
  options: { every?: number; notBefore?: number; ignoreStep?: number } = {},
): number[] {
  const every = options.every ?? 15;
  const busy = day.entries
    .filter((e) => e.step.start && e.step.end && e.step.id !== options.ignoreStep)
    .map((e) => [minutesOfLocal(e.step.start!), e.step.end!.slice(0, 10) > e.step.start!.slice(0, 10) ? 24 * 60 : minutesOfLocal(e.step.end!)]);
  const slots: number[] = [];
  for (const [open, close] of openIntervals(day)) {
    let first = Math.ceil(open / every) * every;
    if (options.notBefore !== undefined && first < options.notBefore) first = Math.ceil(options.notBefore / every) * every;
    for (let s = first; s + duration <= close; s += every) {
      if (!busy.some(([b, e]) => s < e && b < s + duration)) slots.push(s);
    }
  }
  return slots;
}

/**
 * The rows of the day view: from the earliest opening (or booking) to the latest closing, whole
 * hours, 07:00-19:00 when nothing says otherwise (always-open stations do not stretch it to 24 h).
 */
export function dayRange(days: StationDay[]): [number, number] {
  let start = 7 * 60;
  let end = 19 * 60;
  for (const d of days) {
    if (!d.always_open) {
      for (const [a, b] of openIntervals(d)) {
        start = Math.min(start, a);
        end = Math.max(end, b);
      }
    }
    for (const e of d.entries) {
      if (!e.step.start) continue;
      const s = minutesOfLocal(e.step.start);
      start = Math.min(start, s);
      end = Math.max(end, Math.min(24 * 60, s + e.step.duration_minutes));
    }
  }
  return [Math.floor(start / 60) * 60, Math.min(24 * 60, Math.ceil(end / 60) * 60)];
}

/** Minutes since midnight now (local clock of this PC, taken as the clinic's). */
export function nowMinutes(date = new Date()): number {
  return date.getHours() * 60 + date.getMinutes();
}
