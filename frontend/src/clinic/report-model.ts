/**
 * The report screen's pure logic (screens/report.tsx, docs/reports.md): the shapes of the reports
 * API, which templates fit the animal and which one to offer first, the form's state turned into
 * request bodies (create, the changed sections of a draft, an amendment, a withdrawal), and what
 * the reader may do with a report given its status and their permissions.
 */

/** entered-in-error: a signed report withdrawn (FHIR DiagnosticReport.status); it stays on record. */
export type ReportStatus = 'draft' | 'final' | 'amended' | 'cancelled' | 'entered-in-error';

/** GET /api/v1/report-templates (src/vetpacs/reports/schemas.py TemplateRead). */
export interface TemplateRead {
  key: string;
  name: string;
  species_codes: string[];
  species: string[]; // common names (dog, cat...); empty: any species
  body_region: string; // DICOM Body Part Examined; empty: any region
  modality: string;
  title: string;
  findings: string;
  conclusion: string;
  recommendations: string;
}

/** The REST ReportRead. */
export interface ReportRead {
  id: number;
  study_instance_uid: string;
  order_id: number | null;
  accession_number: string;
  animal_id: number | null;
  status: ReportStatus;
  template_key: string;
  title: string;
  findings: string;
  conclusion: string;
  recommendations: string;
  author: string;
  signed_by: string;
  signed_by_name: string;
  signed_at: string | null;
  version: number;
  amendment_reason: string;
  pdf_sop_instance_uid: string;
  pdf_url: string;
  withdrawn_reason: string; // entered-in-error only: why, who and when (UTC)
  withdrawn_by: string;
  withdrawn_at: string | null;
  created_at: string;
  updated_at: string;
}

export const SECTIONS = ['title', 'findings', 'conclusion', 'recommendations'] as const;
export type Section = (typeof SECTIONS)[number];
export type ReportForm = Record<Section, string>;

export const GENERAL = 'general';

// Species names the clinic shows (the vocabulary's name, e.g. "Canine") -> the templates' common name.
const SPECIES_ALIASES: Record<string, string> = {
  canine: 'dog',
  feline: 'cat',
  equine: 'horse',
  lapine: 'rabbit',
};

// Body Part Examined values a study may carry -> the region the templates use.
const REGION_ALIASES: Record<string, string> = {
  THORAX: 'CHEST',
  STIFLE: 'KNEE',
  HIP: 'PELVIS',
  LIMB: 'EXTREMITY',
  TEETH: 'JAW',
  MOUTH: 'JAW',
  ABDOMENPELVIS: 'ABDOMEN',
};

export function commonSpecies(species: string): string {
  const s = species.trim().toLowerCase();
  return SPECIES_ALIASES[s] ?? s;
}

export function templateRegion(bodyPart: string): string {
  const p = bodyPart.trim().toUpperCase().replace(/[\s_-]/g, '');
  return REGION_ALIASES[p] ?? p;
}

/** Whether a template suits an animal of this species: a template for any species always does. */
export function fitsSpecies(t: TemplateRead, species: string): boolean {
  if (t.species.length === 0) return true;
  const wanted = commonSpecies(species);
  if (!wanted) return false;
  return t.species.some((s) => s.toLowerCase() === wanted) || t.species_codes.includes(species.trim());
}

/**
 * The templates to offer for an animal and study: those of its species, the ones for the study's
 * body region first, the general template last (and always there).
 */
export function templatesFor(templates: TemplateRead[], species: string, bodyParts: string[]): TemplateRead[] {
  const regions = new Set(bodyParts.map(templateRegion));
  const rank = (t: TemplateRead): number => (t.key === GENERAL ? 2 : regions.has(t.body_region) ? 0 : 1);
  return templates
    .filter((t) => t.key === GENERAL || fitsSpecies(t, species))
    .map((t, i) => ({ t, i }))
    .sort((a, b) => rank(a.t) - rank(b.t) || a.i - b.i)
    .map(({ t }) => t);
}

/** The template to preselect: the species' one for the study's region, else the general one. */
export function suggestTemplate(templates: TemplateRead[], species: string, bodyParts: string[]): string {
  const regions = new Set(bodyParts.map(templateRegion));
  const hit = templates.find((t) => t.key !== GENERAL && t.species.length > 0 && fitsSpecies(t, species) && regions.has(t.body_region));
  return hit ? hit.key : GENERAL;
}

export function emptyForm(): ReportForm {
  return { title: '', findings: '', conclusion: '', recommendations: '' };
}

export function formFrom(source: Pick<TemplateRead | ReportRead, Section>): ReportForm {
  return { title: source.title, findings: source.findings, conclusion: source.conclusion, recommendations: source.recommendations };
}

/** POST /studies/{uid}/reports: the template and every section as the reader left it. */
export function createBody(templateKey: string, form: ReportForm): { template_key: string } & ReportForm {
  return { template_key: templateKey || GENERAL, ...form };
}

/** The sections that differ from the saved report (PATCH sends only those; {} when nothing changed). */
export function changedSections(saved: Pick<ReportRead, Section>, form: ReportForm): Partial<ReportForm> {
  const out: Partial<ReportForm> = {};
  for (const s of SECTIONS) if (form[s] !== saved[s]) out[s] = form[s];
  return out;
}

/** Whether the form holds text the server does not have (always, before the first save). */
export function isDirty(saved: Pick<ReportRead, Section> | undefined, form: ReportForm): boolean {
  return !saved || Object.keys(changedSections(saved, form)).length > 0;
}

/** The amendment's reason is required (the server's rule, checked before sending). */
export function amendError(reason: string): string | undefined {
  return reason.trim() ? undefined : 'say why the signed report is amended';
}

/** POST /reports/{id}/amend: the reason and the sections that change. */
export function amendBody(report: Pick<ReportRead, Section>, form: ReportForm, reason: string): { reason: string } & Partial<ReportForm> {
  return { reason: reason.trim(), ...changedSections(report, form) };
}

/** The withdrawal's reason is required (the server's rule, checked before sending). */
export function withdrawError(reason: string): string | undefined {
  return reason.trim() ? undefined : 'say why the report was entered in error';
}

/** POST /reports/{id}/withdraw. */
export function withdrawBody(reason: string): { reason: string } {
  return { reason: reason.trim() };
}

export function isSigned(status: ReportStatus | undefined): boolean {
  return status === 'final' || status === 'amended';
}

export function isWithdrawn(status: ReportStatus | undefined): boolean {
  return status === 'entered-in-error';
}

/** A status in words: "withdrawn (entered in error)" for entered-in-error, else the status itself. */
export function statusLabel(status: ReportStatus): string {
  return isWithdrawn(status) ? 'withdrawn (entered in error)' : status;
}

export interface ReportRights {
  edit: boolean; // the form is editable and "Save draft" shown
  sign: boolean; // "Sign" shown
  amend: boolean; // "Amend" shown
  withdraw: boolean; // "Withdraw (entered in error)" shown
  readOnly: boolean; // the text is shown, not a form
}

/**
 * What the reader may do. No report yet (or a cancelled one): write a new draft with
 * reports:write. A draft: edit with reports:write, sign with reports:sign. A signed report is
 * read-only; reports:sign may amend it or withdraw it (entered in error). A withdrawn report is
 * read-only for everyone.
 */
export function rights(permissions: string[], status: ReportStatus | undefined): ReportRights {
  const write = permissions.includes('reports:write');
  const sign = permissions.includes('reports:sign');
  if (isSigned(status)) return { edit: false, sign: false, amend: sign, withdraw: sign, readOnly: true };
  if (isWithdrawn(status)) return { edit: false, sign: false, amend: false, withdraw: false, readOnly: true };
  const open = status === undefined || status === 'cancelled' || status === 'draft';
  return {
    edit: open && write,
    sign: status === 'draft' && sign,
    amend: false,
    withdraw: false,
    readOnly: !(open && write),
  };
}

/** A withdrawn report may be followed by a new one: "Write a new report" for reports:write. */
export function mayRewrite(permissions: string[], status: ReportStatus | undefined): boolean {
  return isWithdrawn(status) && permissions.includes('reports:write');
}

/**
 * The report to open for a study: its one that is neither cancelled nor withdrawn (the API allows
 * one), else the newest withdrawn one (shown as withdrawn), else none.
 */
export function currentReport(reports: ReportRead[]): ReportRead | undefined {
  return reports.find((r) => r.status !== 'cancelled' && !isWithdrawn(r.status)) ?? reports.find((r) => isWithdrawn(r.status));
}
