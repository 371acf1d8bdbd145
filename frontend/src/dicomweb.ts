/**
 * Our DICOMweb (docs/dicomweb.md), same origin, with the session cookie. A 401 sends the browser
 * to the sign-in page and back here afterwards.
 */

export type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

export const DICOMWEB = '/dicom-web';
export const LOGIN = '/viewer/login';
/** Marks our requests so that a 401 carries no Basic challenge (no browser password dialog). */
export const SCRIPT_HEADERS = { 'X-Requested-With': 'XMLHttpRequest' } as const;

export function toLogin(): never {
  const next = location.pathname + location.search;
  location.assign(`${LOGIN}?next=${encodeURIComponent(next)}`);
  throw new Error('not signed in');
}

export async function getJson(path: string): Promise<DicomJson[]> {
  const response = await fetch(DICOMWEB + path, {
    credentials: 'same-origin',
    headers: { Accept: 'application/dicom+json', ...SCRIPT_HEADERS },
  });
  if (response.status === 401) toLogin();
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return (await response.json()) as DicomJson[];
}

/** First value of an attribute (by tag, 8 hex digits), or undefined. */
export function first(item: DicomJson, tag: string): unknown {
  return item[tag]?.Value?.[0];
}

export function str(item: DicomJson, tag: string): string {
  const v = first(item, tag);
  if (v === undefined || v === null) return '';
  if (typeof v === 'object' && 'Alphabetic' in (v as object)) {
    return String((v as { Alphabetic: string }).Alphabetic);
  }
  return String(v);
}

export function num(item: DicomJson, tag: string): number | undefined {
  const v = first(item, tag);
  const n = typeof v === 'string' ? parseFloat(v) : (v as number | undefined);
  return n === undefined || Number.isNaN(n) ? undefined : n;
}

export function nums(item: DicomJson, tag: string): number[] | undefined {
  const values = item[tag]?.Value;
  if (!values || values.length === 0) return undefined;
  const out = values.map((v) => (typeof v === 'string' ? parseFloat(v) : Number(v)));
  return out.every((n) => Number.isFinite(n)) ? out : undefined;
}

export const TAG = {
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  SOPInstanceUID: '00080018',
  AccessionNumber: '00080050',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  Modality: '00080060',
  PatientName: '00100010',
  PatientID: '00100020',
  ModalitiesInStudy: '00080061',
  PatientSpeciesDescription: '00102201',
  NumberOfFrames: '00280008',
  NumberOfSeriesRelatedInstances: '00201209',
  PixelSpacing: '00280030',
  ImagerPixelSpacing: '00181164',
  BodyPartExamined: '00180015',
  StudyDate: '00080020',
  StudyTime: '00080030',
} as const;

/** The newest of an animal's studies (Study Date, then Time; undated last). */
export function newestStudy(studies: DicomJson[]): DicomJson | undefined {
  const when = (s: DicomJson): string => `${str(s, TAG.StudyDate) || '0'}${str(s, TAG.StudyTime)}`;
  return [...studies].sort((a, b) => when(b).localeCompare(when(a)))[0];
}

/**
 * The study to open: ?StudyInstanceUID=... or ?accession=... (QIDO by AccessionNumber), or
 * ?patient_id=... (a PMS that knows only its patient: the animal's newest study; its priors are
 * listed beside).
 */
export async function resolveStudy(params: URLSearchParams): Promise<DicomJson> {
  const uid = params.get('StudyInstanceUID') ?? params.get('study');
  const accession = params.get('accession') ?? params.get('AccessionNumber');
  const patientId = params.get('patient_id') ?? params.get('PatientID');
  if (!uid && !accession && patientId) {
    const all = await getJson(
      `/studies?PatientID=${encodeURIComponent(patientId)}&includefield=00081030&includefield=00080030`,
    );
    const newest = newestStudy(all);
    if (!newest) throw new Error(`No study found for patient ${patientId}`);
    return newest;
  }
  let query: string;
  if (uid) query = `StudyInstanceUID=${encodeURIComponent(uid)}`;
  else if (accession) query = `AccessionNumber=${encodeURIComponent(accession)}`;
  else throw new Error('Open a study with ?StudyInstanceUID=..., ?accession=... or ?patient_id=...');
  const studies = await getJson(`/studies?${query}&includefield=00081030`);
  if (studies.length === 0) throw new Error(`No study found for ${uid ? 'UID ' + uid : 'accession ' + accession}`);
  if (studies.length > 1) throw new Error(`${studies.length} studies have accession ${accession}; open one by UID`);
  return studies[0];
}
