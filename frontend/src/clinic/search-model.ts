/**
 * The search screen's state as a query string (?q=...&species=...&page=2), so back/forward and a
 * reload show the same search, and the shapes of GET /api/v1/search and the animal timeline.
 */
import type { OrderRead } from './order-model';

export interface AnimalHit {
  id: number;
  patient_id: string;
  name: string;
  species: string;
  breed: string;
  sex: string;
  neuter_status: string;
  birth_date: string;
  weight_kg: number | null;
  microchip: string;
  alerts: string;
  deceased: boolean;
  owners: string[];
  study_count: number;
  last_study_date: string | null;
}

export interface StudyHit {
  study_uid: string;
  accession_number: string;
  study_date: string | null;
  description: string;
  modalities: string[];
  body_parts: string[];
  animal_id: number | null;
  order_id: number | null;
  patient_id: string;
  animal_name: string;
  species: string;
  breed: string;
  owner: string;
  series: number;
  instances: number;
  status: string;
}

export interface SearchResult {
  took_ms: number;
  animals: AnimalHit[];
  animals_total?: number; // how many animals match in all (the list holds the first ones)
  studies: { total: number; items: StudyHit[] };
}

/** A report as the timeline carries it (the REST ReportRead, the fields the chart shows). */
export interface ReportSummary {
  id: number;
  study_instance_uid: string;
  accession_number: string;
  status: 'draft' | 'final' | 'amended' | 'cancelled' | 'entered-in-error';
  title: string;
  conclusion: string;
  signed_by_name: string;
  withdrawn_reason?: string; // entered-in-error only
  signed_at: string | null;
  version: number;
  pdf_url: string;
}

/** A charge as the timeline carries it (the REST ChargeRead; amounts are decimal strings). */
export interface ChargeSummary {
  id: number;
  accession_number: string;
  fee_code: string;
  description: string;
  quantity: string;
  amount: string;
  currency: string;
  status: 'posted' | 'voided';
  posted_at: string;
  void_reason?: string;
}

export type TimelineItem =
  | { kind: 'order'; at: string; order: OrderRead }
  | { kind: 'study'; at: string; study: StudyHit }
  | { kind: 'report'; at: string; report: ReportSummary }
  | { kind: 'charge'; at: string; charge: ChargeSummary };

export interface Timeline {
  animal_id: number;
  items: TimelineItem[];
}

export const PAGE_SIZE = 25;
export const FILTERS = ['species', 'breed', 'modality', 'body_region', 'date_from', 'date_to', 'status'] as const;
export type FilterName = (typeof FILTERS)[number];

export type SearchState = { q: string; page: number } & Record<FilterName, string>;

export function emptySearch(): SearchState {
  return { q: '', page: 1, species: '', breed: '', modality: '', body_region: '', date_from: '', date_to: '', status: '' };
}

/** The state from a URL's query string; unknown keys are ignored, a bad page is page 1. */
export function parseSearch(query: URLSearchParams): SearchState {
  const state = emptySearch();
  state.q = (query.get('q') ?? '').slice(0, 200);
  for (const name of FILTERS) state[name] = query.get(name) ?? '';
  const page = Number(query.get('page'));
  state.page = Number.isInteger(page) && page > 1 ? page : 1;
  return state;
}

/** '?q=rex&species=448771007' (empty values and page 1 left out); '' for an empty search. */
export function searchQueryString(state: SearchState): string {
  const params = new URLSearchParams();
  if (state.q.trim()) params.set('q', state.q.trim());
  for (const name of FILTERS) if (state[name]) params.set(name, state[name]);
  if (state.page > 1) params.set('page', String(state.page));
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The API query for a state: criteria plus limit/offset of its page. */
export function searchApiQuery(state: SearchState): Record<string, string | number> {
  const query: Record<string, string | number> = { limit: PAGE_SIZE, offset: (state.page - 1) * PAGE_SIZE };
  if (state.q.trim()) query.q = state.q.trim();
  for (const name of FILTERS) if (state[name]) query[name] = state[name];
  return query;
}

/** Nothing typed and no filter set: the screen shows its empty state instead of searching. */
export function isBlankSearch(state: SearchState): boolean {
  return !state.q.trim() && FILTERS.every((name) => !state[name]);
}

export function pageCount(total: number): number {
  return Math.max(1, Math.ceil(total / PAGE_SIZE));
}

/** A study's status as a badge class: unmatched needs attention, cancelled is a warning. */
export function statusTone(status: string): '' | 'ok' | 'warn' | 'danger' {
  if (status === 'unmatched') return 'danger';
  if (['cancelled', 'no_show', 'discontinued'].includes(status)) return 'warn';
  if (['linked', 'completed', 'images_received', 'reported', 'billed'].includes(status)) return 'ok';
  return '';
}

export const statusText = (status: string): string => status.replace(/_/g, ' ');
