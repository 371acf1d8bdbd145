/**
 * Administration screens, as data: opening hours between the API's shape and one text box per
 * weekday, the server's field errors in words a clinic manager understands, and the sections of the
 * side navigation with the permission each needs. Pure functions, tested in
 * frontend/tests/clinic-admin.test.ts.
 */
import { ApiError } from './api';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
export const WEEKDAY_NAMES: Record<Weekday, string> = {
  mon: 'Monday',
  tue: 'Tuesday',
  wed: 'Wednesday',
  thu: 'Thursday',
  fri: 'Friday',
  sat: 'Saturday',
  sun: 'Sunday',
};

export type OpeningHours = Partial<Record<Weekday, string[][]>>;

const HHMM = /^([01]?\d|2[0-3]):[0-5]\d$|^24:00$/;

function pad(time: string): string {
  return time.length === 4 ? `0${time}` : time;
}

/**
 * One weekday's text (`08:00-12:00, 13:00-17:00`; empty = closed) -> intervals, or an error
 * message naming what is wrong.
 */
export function parseDay(text: string): { intervals: string[][]; error?: string } {
  const trimmed = text.trim();
  if (!trimmed || /^closed$/i.test(trimmed)) return { intervals: [] };
  const intervals: string[][] = [];
  for (const part of trimmed.split(/[,;]/)) {
    const span = part.trim();
    if (!span) continue;
    const m = /^(\S+)\s*[-–]\s*(\S+)$/.exec(span);
    if (!m) return { intervals: [], error: `“${span}” is not a time range like 08:00-12:00` };
    const [start, end] = [m[1], m[2]];
    if (!HHMM.test(start) || !HHMM.test(end)) {
      return { intervals: [], error: `“${span}”: times are HH:MM, from 00:00 to 24:00` };
    }
    const [a, b] = [pad(start), pad(end)];
    if (a >= b) return { intervals: [], error: `“${span}” closes before it opens` };
    intervals.push([a, b]);
  }
  intervals.sort((x, y) => x[0].localeCompare(y[0]));
  for (let i = 1; i < intervals.length; i++) {
    if (intervals[i][0] < intervals[i - 1][1]) {
      return { intervals: [], error: `${intervals[i - 1].join('-')} and ${intervals[i].join('-')} overlap` };
    }
  }
  return { intervals };
}

export function formatDay(intervals: string[][] | undefined): string {
  return (intervals ?? []).map(([a, b]) => `${a}-${b}`).join(', ');
}

/** Texts per weekday for the form; `alwaysOpen` when the station has no hours (the API's `{}`). */
export function hoursToForm(hours: OpeningHours | undefined): { alwaysOpen: boolean; days: Record<Weekday, string> } {
  const alwaysOpen = !hours || Object.keys(hours).length === 0;
  const days = Object.fromEntries(WEEKDAYS.map((d) => [d, formatDay(hours?.[d])])) as Record<Weekday, string>;
  return { alwaysOpen, days };
}

/** The form back to the API's opening hours; errors per weekday when a text does not parse. */
export function formToHours(form: { alwaysOpen: boolean; days: Record<Weekday, string> }): {
  hours: OpeningHours;
  errors: Partial<Record<Weekday, string>>;
} {
  if (form.alwaysOpen) return { hours: {}, errors: {} };
  const hours: OpeningHours = {};
  const errors: Partial<Record<Weekday, string>> = {};
  for (const day of WEEKDAYS) {
    const parsed = parseDay(form.days[day] ?? '');
    if (parsed.error) errors[day] = parsed.error;
    hours[day] = parsed.intervals;
  }
  return { hours, errors };
}

/** A short summary for tables: `Mon–Fri 08:00-18:00 · Sat 09:00-12:00`, `always open`, `closed`. */
export function hoursSummary(hours: OpeningHours | undefined): string {
  if (!hours || Object.keys(hours).length === 0) return 'always open';
  const groups: { from: Weekday; to: Weekday; text: string }[] = [];
  for (const day of WEEKDAYS) {
    const text = formatDay(hours[day]);
    const last = groups[groups.length - 1];
    if (last && last.text === text && WEEKDAYS.indexOf(last.to) === WEEKDAYS.indexOf(day) - 1) last.to = day;
    else groups.push({ from: day, to: day, text });
  }
  const open = groups.filter((g) => g.text);
  if (!open.length) return 'closed';
  const name = (d: Weekday): string => d[0].toUpperCase() + d.slice(1);
  return open.map((g) => `${g.from === g.to ? name(g.from) : `${name(g.from)}–${name(g.to)}`} ${g.text}`).join(' · ');
}

const FRIENDLY: Record<string, string> = {
  modality: 'Use the DICOM modality code: 2 to 16 capital letters, e.g. DX, US, CT.',
  code: 'Letters, digits, dot, underscore and hyphen only.',
  coding_scheme: 'Letters, digits, dot, underscore and hyphen only.',
  username: 'Letters, digits and . _ @ - only (no spaces).',
  ae_title: 'An AE title: 1 to 16 printable characters, no backslash.',
  host: 'A host name or IP address (letters, digits, dots, hyphens, colons).',
  name: 'No spaces at the start or the end.',
};

/**
 * The message to show beside a field for an error of the API (422 field errors), in words: a
 * pattern mismatch gets the rule for that field; other messages are the server's own.
 */
export function fieldMessage(error: unknown, field: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const found = error.errors.find((e) => String(e.loc[e.loc.length - 1]) === field || (e.loc.length > 2 && String(e.loc[1]) === field));
  if (!found) return undefined;
  if (found.type === 'string_pattern_mismatch' && FRIENDLY[field]) return FRIENDLY[field];
  if (found.type === 'missing') return 'Required.';
  return found.msg.replace(/^Value error, /, '');
}

/** A 409 (name or code taken) belongs beside the field that names it. */
export function conflictMessage(error: unknown): string | undefined {
  return error instanceof ApiError && error.status === 409 ? error.message : undefined;
}

export interface Section {
  key: string;
  label: string;
  permission: string;
}

export const SECTIONS: Section[] = [
  { key: 'users', label: 'Users and roles', permission: 'users:manage' },
  { key: 'stations', label: 'Modality units and rooms', permission: 'system:manage' },
  { key: 'destinations', label: 'DICOM destinations', permission: 'system:manage' },
  { key: 'procedures', label: 'Procedure catalog', permission: 'system:manage' },
  { key: 'species', label: 'Species and breeds', permission: 'system:manage' },
  { key: 'integrations', label: 'Integration partners', permission: 'system:manage' },
  { key: 'hl7', label: 'HL7 message log', permission: 'system:manage' },
  { key: 'audit', label: 'Audit log', permission: 'audit:read' },
  { key: 'system', label: 'System health', permission: 'system:manage' },
];

export const ROLES = [
  ['admin', 'Administrator'],
  ['veterinarian', 'Veterinarian'],
  ['radiologist', 'Radiologist'],
  ['technician', 'Technician'],
  ['front_desk', 'Front desk'],
  ['integration', 'Integration (PMS, API token)'],
  ['external_reader', 'External reader'],
] as const;

/** `1536` -> `1.5 KiB`; bytes in binary units for storage figures. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `93784` s -> `1 d 2 h 3 min`. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [d ? `${d} d` : '', h ? `${h} h` : '', `${m} min`].filter(Boolean);
  return s < 60 ? `${s} s` : parts.join(' ');
}
