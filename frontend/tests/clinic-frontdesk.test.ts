import { describe, expect, it } from 'vitest';
import { birthDateError, birthDateFromAge, microchipError, sexLabel, weightError } from '../src/clinic/chart-model';
import { choosePrior } from '../src/clinic/chart-prior';
import { CODE_B, CODE_C, PATTERNS, START_B, START_C, STOP, code128Svg, code128Values, code128Widths } from '../src/clinic/label-code128';
import { addDays, dayRange, freeSlots, localStart, minutesOfLocal } from '../src/clinic/schedule-slots';
import { PAGE_SIZE, emptySearch, isBlankSearch, parseSearch, searchApiQuery, searchQueryString } from '../src/clinic/search-model';
import type { StationDay } from '../src/clinic/order-model';

describe('search state in the URL', () => {
  it('round-trips through the query string, leaving out empty values and page 1', () => {
    const state = { ...emptySearch(), q: 'Rex Müller', species: '448771007', date_from: '2026-01-01', page: 3 };
    const text = searchQueryString(state);
    expect(text).toBe('?q=Rex+M%C3%BCller&species=448771007&date_from=2026-01-01&page=3');
    expect(parseSearch(new URLSearchParams(text))).toEqual(state);
    expect(searchQueryString(emptySearch())).toBe('');
  });

  it('ignores a bad page and unknown keys; blank means no criterion', () => {
    const state = parseSearch(new URLSearchParams('page=-2&foo=bar&q=%20'));
    expect(state.page).toBe(1);
    expect(isBlankSearch(state)).toBe(true);
    expect(isBlankSearch({ ...state, status: 'unmatched' })).toBe(false);
  });

  it('asks the API for the page as limit/offset', () => {
    const query = searchApiQuery({ ...emptySearch(), q: ' 900 ', modality: 'DX', page: 2 });
    expect(query).toEqual({ q: '900', modality: 'DX', limit: PAGE_SIZE, offset: PAGE_SIZE });
  });
});

/** Read Code 128 widths back into text, checking start, checksum and stop (an independent decoder). */
function decode(widths: number[]): string {
  const symbols: string[] = [];
  let k = 0;
  while (k < widths.length) {
    const size = widths.length - k === 7 ? 7 : 6;
    symbols.push(widths.slice(k, k + size).join(''));
    k += size;
  }
  const values = symbols.map((s) => {
    const v = PATTERNS.indexOf(s);
    if (v < 0) throw new Error(`unknown symbol ${s}`);
    return v;
  });
  expect(values[values.length - 1]).toBe(STOP);
  const data = values.slice(0, -2);
  const check = data.reduce((sum, v, i) => sum + (i === 0 ? v : v * i), 0) % 103;
  expect(values[values.length - 2]).toBe(check);
  let set = data[0] === START_C ? 'C' : 'B';
  expect([START_B, START_C]).toContain(data[0]);
  let out = '';
  for (const v of data.slice(1)) {
    if (set === 'B' && v === CODE_C) set = 'C';
    else if (set === 'C' && v === CODE_B) set = 'B';
    else out += set === 'C' ? String(v).padStart(2, '0') : String.fromCharCode(v + 32);
  }
  return out;
}

describe('Code 128', () => {
  it('has a well-formed symbol table (11 modules, even bar widths, all distinct)', () => {
    expect(PATTERNS).toHaveLength(107);
    expect(new Set(PATTERNS).size).toBe(107);
    PATTERNS.forEach((p, v) => {
      const w = [...p].map(Number);
      expect(w.reduce((a, b) => a + b, 0)).toBe(v === STOP ? 13 : 11);
      expect((w[0] + w[2] + w[4]) % 2).toBe(0);
    });
    expect(PATTERNS[START_B]).toBe('211214'); // 11010010000
  });

  it('encodes the textbook example PJJ123C with checksum 55', () => {
    // 104 + 48*1 + 42*2 + 42*3 + 17*4 + 18*5 + 19*6 + 35*7 = 879; 879 mod 103 = 55
    expect(code128Values('PJJ123C')).toEqual([104, 48, 42, 42, 17, 18, 19, 35, 55, STOP]);
  });

  it('switches to code set C for digit runs and decodes back', () => {
    for (const text of ['A2611290001', 'A26112900013', '12345678', '123', 'ACC-7.x_9', '12345', 'Z']) {
      expect(decode(code128Widths(text))).toBe(text);
    }
    const values = code128Values('A2611290001');
    expect(values.slice(0, 3)).toEqual([START_B, 33, CODE_C]);
    expect(values.length).toBe(3 + 5 + 2); // start, A, switch, five digit pairs, checksum, stop
    expect(code128Values('12345678')[0]).toBe(START_C);
  });

  it('refuses characters it cannot encode and draws bars as SVG', () => {
    expect(() => code128Values('Zürich')).toThrow(/cannot encode/);
    expect(() => code128Values('')).toThrow();
    const svg = code128Svg('A1');
    expect(svg.startsWith('<svg')).toBe(true);
    const bars = code128Widths('A1').filter((_, i) => i % 2 === 0).length;
    expect(svg.match(/<rect x=/g)).toHaveLength(bars);
  });
});

const day = (entries: [number, string, string][], hours: string[][] = [['08:00', '12:00']], always = false): StationDay => ({
  station: { id: 1, name: 'X', ae_title: 'X', station_name: '', modality: 'DX', location: '', opening_hours: {}, active: true },
  day: '2026-11-30',
  always_open: always,
  opening_hours: hours,
  entries: entries.map(([id, start, end]) => ({
    step: {
      id, order_id: id, procedure_id: 1, procedure_code: 'P', procedure_name: 'P', requested_procedure_id: '', step_id: '',
      station_id: 1, station_name: 'X', modality: 'DX', start: `2026-11-30T${start}:00`, end: `2026-11-30T${end}:00`,
      duration_minutes: 15, status: 'SCHEDULED', protocol: '',
    },
    accession_number: 'A', order_status: 'scheduled', priority: 'ROUTINE', animal_id: 1, animal_name: 'Rex',
  })),
});

describe('free slots', () => {
  it('fits the duration inside opening hours around bookings', () => {
    const d = day([[1, '08:30', '09:00'], [2, '10:00', '11:30']]);
    const slots = freeSlots(d, 30, { every: 15 }).map((m) => localStart('2026-11-30', m).slice(11, 16));
    expect(slots).toEqual(['08:00', '09:00', '09:15', '09:30', '11:30']);
  });

  it('ignores the step being moved, starts not before now, and knows closed days', () => {
    const d = day([[1, '08:00', '12:00']]);
    expect(freeSlots(d, 60)).toEqual([]);
    expect(freeSlots(d, 60, { ignoreStep: 1, notBefore: 10 * 60 + 5 })).toEqual([615, 630, 645, 660]);
    expect(freeSlots(day([], []), 15)).toEqual([]);
    expect(freeSlots(day([], [], true), 15, { every: 60 })).toHaveLength(24);
  });

  it('sizes the day view to opening hours and bookings', () => {
    expect(dayRange([day([], [['08:00', '18:00']])])).toEqual([7 * 60, 19 * 60]);
    expect(dayRange([day([[1, '06:10', '06:40']], [['06:30', '20:15']])])).toEqual([6 * 60, 21 * 60]);
    expect(dayRange([day([], [], true)])).toEqual([7 * 60, 19 * 60]);
    expect(minutesOfLocal('2026-11-30T09:45:00')).toBe(585);
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });
});

describe('prior study', () => {
  const s = (uid: string, date: string | null, modalities: string[], parts: string[]) => ({
    study_uid: uid, study_date: date, modalities, body_parts: parts,
  });
  const current = s('c', '2026-11-20', ['DX'], ['CHEST']);
  it('prefers the newest earlier study of the same modality and body part', () => {
    const studies = [
      current,
      s('us', '2026-11-01', ['US'], ['ABDOMEN']),
      s('dx-abd', '2026-10-01', ['DX'], ['ABDOMEN']),
      s('dx-chest-old', '2025-01-01', ['DX'], ['CHEST']),
      s('dx-chest', '2026-05-01', ['DX'], ['CHEST']),
      s('later', '2026-11-25', ['DX'], ['CHEST']),
    ];
    expect(choosePrior(current, studies)?.study_uid).toBe('dx-chest');
  });
  it('falls back to the same modality, then to any earlier study, else none', () => {
    expect(choosePrior(current, [s('us', '2026-11-01', ['US'], []), s('dx', '2026-01-01', ['DX'], ['PELVIS'])])?.study_uid).toBe('dx');
    expect(choosePrior(current, [s('us', '2026-11-01', ['US'], [])])?.study_uid).toBe('us');
    expect(choosePrior(current, [s('later', '2026-12-01', ['DX'], ['CHEST']), s('nodate', null, ['DX'], [])])).toBeUndefined();
  });
});

describe('patient form helpers', () => {
  it('checks microchips, birth dates and weights', () => {
    expect(microchipError('985112345678901')).toBeUndefined();
    expect(microchipError('98511234567890')).toMatch(/15 digits/);
    expect(microchipError('0A12B34C5')).toBeUndefined();
    expect(microchipError('12 34')).toMatch(/without spaces/);
    expect(birthDateError('2026-02-30', '2026-11-29')).toMatch(/calendar/);
    expect(birthDateError('2027-01-01', '2026-11-29')).toMatch(/future/);
    expect(birthDateError('2020-02-29', '2026-11-29')).toBeUndefined();
    expect(weightError('0')).toMatch(/more than 0/);
    expect(weightError('23,5')).toBeUndefined();
    expect(weightError('heavy')).toMatch(/number/);
  });
  it('estimates a birth date from an age and labels sex and neuter status', () => {
    expect(birthDateFromAge(3, 0, '2026-11-29')).toBe('2023-11-29');
    expect(birthDateFromAge(0, 10, '2026-11-29')).toBe('2026-01-29');
    expect(birthDateFromAge(1, 9, '2026-05-31')).toBe('2024-08-31');
    expect(birthDateFromAge(0, 3, '2026-05-31')).toBe('2026-02-28');
    expect(sexLabel('F', 'ALTERED')).toBe('Female, spayed');
    expect(sexLabel('M', 'UNALTERED')).toBe('Male, entire');
    expect(sexLabel('O', '')).toBe('Sex unknown');
  });
});
