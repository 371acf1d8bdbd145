import { describe, expect, it } from 'vitest';
import { bytes, duration, fieldMessage, formToHours, hoursSummary, hoursToForm, parseDay } from '../src/clinic/admin-model';
import { dayBoundary } from '../src/clinic/admin-audit';
import { ApiError } from '../src/clinic/api';

describe('opening hours', () => {
  it('parses one text per weekday, closed when empty', () => {
    expect(parseDay('08:00-12:00, 13:00-17:00')).toEqual({ intervals: [['08:00', '12:00'], ['13:00', '17:00']] });
    expect(parseDay('8:00–12:00')).toEqual({ intervals: [['08:00', '12:00']] });
    expect(parseDay('')).toEqual({ intervals: [] });
    expect(parseDay('closed')).toEqual({ intervals: [] });
    expect(parseDay('13:00-17:00; 08:00-12:00').intervals[0]).toEqual(['08:00', '12:00']);
    expect(parseDay('08:00-24:00').intervals).toEqual([['08:00', '24:00']]);
  });
  it('says what is wrong', () => {
    expect(parseDay('8 to 5').error).toMatch(/not a time range/);
    expect(parseDay('08:00-25:00').error).toMatch(/HH:MM/);
    expect(parseDay('17:00-08:00').error).toMatch(/closes before it opens/);
    expect(parseDay('08:00-12:00, 11:00-14:00').error).toMatch(/overlap/);
  });
  it('round-trips the API shape through the form', () => {
    const hours = { mon: [['08:00', '18:00']], tue: [['08:00', '18:00']], sat: [['09:00', '12:00']] };
    const form = hoursToForm(hours);
    expect(form.alwaysOpen).toBe(false);
    expect(form.days.mon).toBe('08:00-18:00');
    expect(form.days.sun).toBe('');
    const back = formToHours(form);
    expect(back.errors).toEqual({});
    expect(back.hours.mon).toEqual([['08:00', '18:00']]);
    expect(back.hours.sun).toEqual([]);
    expect(hoursToForm({}).alwaysOpen).toBe(true);
    expect(formToHours({ ...form, alwaysOpen: true }).hours).toEqual({});
    expect(formToHours({ ...form, days: { ...form.days, wed: 'nope' } }).errors.wed).toMatch(/not a time range/);
  });
  it('summarises for tables', () => {
    const weekdays = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => [d, [['08:00', '18:00']]]));
    expect(hoursSummary(weekdays)).toBe('Mon–Fri 08:00-18:00');
    expect(hoursSummary({ ...weekdays, sat: [['09:00', '12:00']] })).toBe('Mon–Fri 08:00-18:00 · Sat 09:00-12:00');
    expect(hoursSummary({})).toBe('always open');
    expect(hoursSummary({ mon: [] })).toBe('closed');
  });
});

describe('field messages', () => {
  const error = new ApiError(422, 'invalid request', [
    { loc: ['body', 'modality'], msg: "String should match pattern '^[A-Z]{2,16}$'", type: 'string_pattern_mismatch' },
    { loc: ['body', 'name'], msg: 'Field required', type: 'missing' },
    { loc: ['body', 'opening_hours'], msg: 'Value error, mon: 17:00-08:00 closes before it opens', type: 'value_error' },
    { loc: ['body', 'default_views', 0], msg: 'Input should be a valid string', type: 'string_type' },
  ]);
  it('puts the rule of the field in words', () => {
    expect(fieldMessage(error, 'modality')).toMatch(/capital letters/);
    expect(fieldMessage(error, 'name')).toBe('Required.');
    expect(fieldMessage(error, 'opening_hours')).toBe('mon: 17:00-08:00 closes before it opens');
    expect(fieldMessage(error, 'default_views')).toBe('Input should be a valid string');
    expect(fieldMessage(error, 'code')).toBeUndefined();
    expect(fieldMessage(new Error('x'), 'code')).toBeUndefined();
  });
});

describe('formatting', () => {
  it('bytes, durations and day boundaries', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(bytes(undefined)).toBe('—');
    expect(duration(42)).toBe('42 s');
    expect(duration(93784)).toBe('1 d 2 h 3 min');
    const start = dayBoundary('2026-11-29')!;
    const end = dayBoundary('2026-11-29', true)!;
    expect(new Date(end).getTime() - new Date(start).getTime()).toBeGreaterThanOrEqual(23 * 3600e3);
    expect(dayBoundary('29/11/2026')).toBeUndefined();
  });
});
