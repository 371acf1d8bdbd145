/**
 * The animal's other studies, from the archive (QIDO-RS by Patient ID), for the
 * "Priors" list of the viewer: each opens beside the current study (`&prior=<uid>`, 1x2, linked).
 * Pure parts: the query, the list (newest first, the current study left out) and the links.
 */
import { TAG, str, type DicomJson } from './dicomweb';

export interface PriorStudy {
  uid: string;
  date: string; // YYYY-MM-DD or ''
  modalities: string;
  description: string;
  accession: string;
}

/**
 * The QIDO-RS query of the animal's studies; undefined without a Patient ID. By Patient ID alone:
 * a modality that leaves Issuer of Patient ID empty must not hide a prior.
 */
export function priorsQuery(study: DicomJson): string | undefined {
  const patientId = str(study, TAG.PatientID);
  if (!patientId) return undefined;
  const params = new URLSearchParams({ PatientID: patientId, limit: '100' });
  for (const field of [TAG.StudyDate, TAG.StudyDescription, TAG.ModalitiesInStudy, TAG.AccessionNumber]) {
    params.append('includefield', field);
  }
  return `/studies?${params.toString()}`;
}

function isoDate(dicom: string): string {
  return /^\d{8}$/.test(dicom) ? `${dicom.slice(0, 4)}-${dicom.slice(4, 6)}-${dicom.slice(6, 8)}` : '';
}

/** The other studies of the animal, newest first (undated last), the current one left out. */
export function listPriors(studies: DicomJson[], currentUid: string): PriorStudy[] {
  const out = studies
    .map((s) => ({
      uid: str(s, TAG.StudyInstanceUID),
      date: isoDate(str(s, TAG.StudyDate)),
      modalities: (s[TAG.ModalitiesInStudy]?.Value ?? []).map(String).join('/'),
      description: str(s, TAG.StudyDescription),
      accession: str(s, TAG.AccessionNumber),
    }))
    .filter((p) => p.uid && p.uid !== currentUid);
  const seen = new Set<string>();
  return out
    .filter((p) => (seen.has(p.uid) ? false : (seen.add(p.uid), true)))
    .sort((a, b) => (b.date || '0').localeCompare(a.date || '0') || a.uid.localeCompare(b.uid));
}

/** The viewer link that opens `prior` beside the current study (other parameters kept). */
export function priorHref(search: string, currentUid: string, prior: string): string {
  const params = new URLSearchParams(search);
  params.delete('accession');
  params.delete('AccessionNumber');
  params.delete('study');
  params.set('StudyInstanceUID', currentUid);
  params.set('prior', prior);
  return `?${params.toString()}`;
}

/** One line of the list: "2025-06-01 · DX · Thorax 2 views". */
export function priorText(p: PriorStudy): string {
  return [p.date || 'no date', p.modalities, p.description].filter(Boolean).join(' · ');
}
