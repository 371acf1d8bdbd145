/**
 * The reconciliation queue, as data: items of GET /api/v1/reconciliation, what their reasons mean
 * in words, DICOM person names and QIDO-RS study attributes made readable, and the candidates in
 * rank order. Pure functions, tested in frontend/tests/clinic-recon.test.ts.
 */

export interface Candidate {
  order_id: number | null;
  animal_id: number;
  accession_number: string;
  score: number;
  why: string[];
}

export interface ReconItem {
  id: number;
  study_instance_uid: string;
  reason: string;
  detail: string;
  candidates: Candidate[];
  status: 'open' | 'linked' | 'rejected';
  order_id: number | null;
  animal_id: number | null;
  resolved_by: string;
  resolved_at: string | null;
  created_at: string;
  patient_id: string;
  patient_name: string;
  accession_number: string;
  study_date: string;
  // not in the API yet (asked for): filled from QIDO-RS where possible
  modality?: string;
  calling_ae?: string;
}

const REASONS: Record<string, string> = {
  'no-order': 'No order matches this study',
  'order-inactive': 'The matching order is closed (cancelled, no-show or already reported)',
  'patient-id-mismatch': 'The Patient ID differs from the order’s animal',
  'species-mismatch': 'The species differs from the order’s animal',
  'name-mismatch': 'The animal’s name differs from the order’s animal',
  'owner-mismatch': 'The owner differs from the order’s animal',
};

/** A sentence for a reason code (unknown codes are shown as they are, never hidden). */
export function reasonText(reason: string): string {
  return REASONS[reason] ?? (reason ? reason.replace(/-/g, ' ') : 'Not matched');
}

/** DICOM Person Name `OWNER^Animal` -> { animal: 'Animal', owner: 'OWNER' } (vet style: owner family, animal given). */
export function splitPatientName(value: string): { animal: string; owner: string } {
  const [family = '', given = ''] = value.split('=')[0].split('^');
  if (!given.trim()) return { animal: family.trim(), owner: '' };
  return { animal: given.trim(), owner: family.trim() };
}

/** `Simba (NIELSEN)`, or the raw value when it has no owner part; `(no name)` when empty. */
export function patientLabel(value: string): string {
  const { animal, owner } = splitPatientName(value);
  if (!animal && !owner) return '(no name)';
  return owner ? `${animal} (${owner})` : animal;
}

/** Candidates best first (higher score; ties: with an order before animal only). */
export function rankCandidates(candidates: Candidate[]): Candidate[] {
  return [...candidates].sort(
    (a, b) => b.score - a.score || Number(b.order_id !== null) - Number(a.order_id !== null) || a.animal_id - b.animal_id,
  );
}

/** The body of POST /reconciliation/{id}/link for a chosen candidate: the order when there is one. */
export function linkBody(choice: { order_id: number | null; animal_id: number }): { order_id?: number; animal_id?: number } {
  return choice.order_id !== null ? { order_id: choice.order_id } : { animal_id: choice.animal_id };
}

type DicomJson = Record<string, { vr: string; Value?: unknown[] } | undefined>;

export interface StudyFacts {
  modality: string;
  description: string;
  species: string;
  images: number | undefined;
  referrer: string;
}

function first(attrs: DicomJson, tag: string): unknown {
  return attrs[tag]?.Value?.[0];
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object' && 'Alphabetic' in (value as Record<string, unknown>)) {
    return String((value as { Alphabetic: string }).Alphabetic).replace(/\^+/g, ' ').trim();
  }
  return String(value);
}

/** What a QIDO-RS study result (DICOM JSON) says about the study: modalities, description, species... */
export function studyFacts(attrs: DicomJson | undefined): StudyFacts {
  if (!attrs) return { modality: '', description: '', species: '', images: undefined, referrer: '' };
  const images = first(attrs, '00201208');
  return {
    modality: (attrs['00080061']?.Value ?? []).map(String).join(', '),
    description: text(first(attrs, '00081030')),
    species: text(first(attrs, '00102201')),
    images: images === undefined ? undefined : Number(images),
    referrer: text(first(attrs, '00080090')),
  };
}

/** `20250218` -> `2025-02-18`; anything else as it is. */
export function dicomDate(value: string): string {
  return /^\d{8}$/.test(value) ? `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}` : value;
}

/** The events after which the queue refetches. */
export const RECON_EVENTS = [
  'study.unmatched',
  'study.linked',
  'study.unlinked',
  'study.corrected',
  'reconciliation.linked',
  'reconciliation.rejected',
  'reconciliation.reopened',
  'reconciliation.undone',
];

/**
 * The rows to show: the fetched page, with the items acted on in this visit kept in place (a linked
 * item stays in the open list with its Undo until the page is left); a fetched row is the newest.
 */
export function mergeTouched(fetched: ReconItem[], touched: Map<number, ReconItem>): ReconItem[] {
  const seen = new Set<number>();
  const rows = fetched.map((item) => {
    seen.add(item.id);
    return item;
  });
  for (const item of touched.values()) if (!seen.has(item.id)) rows.push(item);
  return rows.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id);
}
