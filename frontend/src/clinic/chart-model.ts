/**
 * Shapes of the patients API (src/vetpacs/patients/schemas.py) as the front-desk screens use them,
 * with the small formatting helpers they share, and a POST that sends an Idempotency-Key: a
 * retried create answers the first result instead of a second record.
 */
import { post } from './api';

export type Sex = 'M' | 'F' | 'O';
export type Neuter = 'ALTERED' | 'UNALTERED' | '';

export interface SpeciesRead {
  id: number;
  code: string;
  coding_scheme: string;
  name: string;
  common_name: string;
  latin_name: string;
  active: boolean;
}

export interface BreedRead {
  id: number;
  species_id: number;
  code: string;
  coding_scheme: string;
  name: string;
  active: boolean;
}

export interface OwnerRead {
  id: number;
  external_id: string;
  family_name: string;
  given_name: string;
  organization: string;
  email: string;
  phone: string;
  address_line: string;
  city: string;
  postal_code: string;
  country: string;
  notes: string;
  active: boolean;
}

export interface AnimalOwnerRead {
  owner_id: number;
  family_name: string;
  given_name: string;
  role: string;
  is_primary: boolean;
}

export interface AnimalRead {
  id: number;
  name: string;
  external_id: string;
  patient_id: string;
  issuer_of_patient_id: string;
  patient_name: string;
  species_text: string;
  breed_text: string;
  species: SpeciesRead | null;
  breed: BreedRead | null;
  sex: Sex;
  neuter_status: Neuter;
  birth_date: string;
  birth_date_estimated: boolean;
  weight_kg: number | null;
  colour: string;
  microchip: string;
  responsible_organization: string;
  alerts: string;
  deceased: boolean;
  owners: AnimalOwnerRead[];
  merged_into_id: number | null;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export function speciesName(a: Pick<AnimalRead, 'species' | 'species_text'>): string {
  return a.species ? a.species.name : a.species_text;
}

export function breedName(a: Pick<AnimalRead, 'breed' | 'breed_text'>): string {
  return a.breed ? a.breed.name : a.breed_text;
}

/** 'M' + 'ALTERED' -> 'Male, neutered'; 'F' + 'ALTERED' -> 'Female, spayed'. */
export function sexLabel(sex: string, neuter: string): string {
  const base = sex === 'M' ? 'Male' : sex === 'F' ? 'Female' : 'Sex unknown';
  if (neuter === 'ALTERED') return `${base}, ${sex === 'F' ? 'spayed' : 'neutered'}`;
  if (neuter === 'UNALTERED') return `${base}, entire`;
  return base;
}

export function ownerName(o: { family_name: string; given_name: string; organization?: string }): string {
  const person = o.given_name ? `${o.family_name}, ${o.given_name}` : o.family_name;
  return o.organization && !o.family_name ? o.organization : person;
}

/** A fresh random key for an Idempotency-Key header. */
export function newKey(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * POST a create with an Idempotency-Key header: the same key and body again answer the first
 * result, so a retry after a lost answer is safe.
 */
export function postIdempotent<T>(path: string, body: unknown, key: string): Promise<T> {
  return post<T>(path, body, { 'Idempotency-Key': key });
}

/**
 * One Idempotency-Key per distinct body: a retry of the same body reuses the key (the server
 * replays), a changed body after a failure gets a new key (the server would refuse a reused key).
 */
export class KeyForBody {
  private key = '';
  private body = '';
  for(body: unknown): string {
    const text = JSON.stringify(body);
    if (text !== this.body || !this.key) {
      this.key = newKey();
      this.body = text;
    }
    return this.key;
  }
}

// ------------------------------------------------------------------ validation shared by forms

/** ISO 11784 chips are 15 digits; older chips (AVID, FECAVA) 9 or 10 letters and digits. */
export function microchipError(value: string): string | undefined {
  const v = value.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return v.length === 15 ? undefined : `an ISO microchip has 15 digits (this has ${v.length})`;
  if (/^[A-Za-z0-9]{9,10}$/.test(v)) return undefined;
  return 'a microchip is 15 digits (ISO 11784) or a 9–10 character older code, without spaces';
}

/** YYYY-MM-DD, a real date, not in the future. */
export function birthDateError(value: string, todayIso: string): string | undefined {
  if (!value) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return 'use the form YYYY-MM-DD';
  const d = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value) return 'not a calendar date';
  if (value > todayIso) return 'the birth date is in the future';
  if (value < '1900-01-01') return 'the birth date is too far in the past';
  return undefined;
}

export function weightError(value: string): string | undefined {
  if (!value.trim()) return undefined;
  const n = Number(value.replace(',', '.'));
  if (!Number.isFinite(n)) return 'a number of kilograms, e.g. 23.5';
  if (n <= 0) return 'the weight must be more than 0 kg';
  if (n >= 20000) return 'the weight must be less than 20 000 kg';
  return undefined;
}

export function parseWeight(value: string): number | null {
  return value.trim() ? Number(value.replace(',', '.')) : null;
}

/** A birth date from an estimated age in years and months, on a given day (YYYY-MM-DD). */
export function birthDateFromAge(years: number, months: number, todayIso: string): string {
  const [y, m, d] = todayIso.split('-').map(Number);
  const total = y * 12 + (m - 1) - (years * 12 + months);
  const by = Math.floor(total / 12);
  const bm = (total % 12) + 1;
  const last = new Date(Date.UTC(by, bm, 0)).getUTCDate();
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${by}-${pad(bm)}-${pad(Math.min(d, last))}`;
}

export function emailError(value: string): string | undefined {
  if (!value.trim()) return undefined;
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value.trim()) ? undefined : 'an e-mail address looks like name@example.org';
}
