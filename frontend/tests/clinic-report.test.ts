import { describe, expect, it } from 'vitest';
import {
  type ReportRead,
  type TemplateRead,
  amendBody,
  amendError,
  changedSections,
  createBody,
  currentReport,
  fitsSpecies,
  formFrom,
  isDirty,
  isWithdrawn,
  mayRewrite,
  rights,
  statusLabel,
  suggestTemplate,
  templatesFor,
  withdrawBody,
  withdrawError,
} from '../src/clinic/report-model';

const template = (key: string, species: string[], codes: string[], region: string): TemplateRead => ({
  key,
  name: key,
  species,
  species_codes: codes,
  body_region: region,
  modality: 'DX',
  title: `${key} title`,
  findings: key === 'general' ? '' : `${key} findings`,
  conclusion: key === 'general' ? '' : `${key} conclusion`,
  recommendations: '',
});

// As GET /api/v1/report-templates lists them (src/vetpacs/reports/templates.py).
const TEMPLATES = [
  template('thorax-dog', ['dog'], ['448771007'], 'CHEST'),
  template('thorax-cat', ['cat'], ['448169003'], 'CHEST'),
  template('abdomen-cat', ['cat'], ['448169003'], 'ABDOMEN'),
  template('dental', ['dog', 'cat'], ['448771007', '448169003'], 'JAW'),
  template('equine-limb', ['horse'], ['35354009'], 'EXTREMITY'),
  template('general', [], [], ''),
];

const report = (over: Partial<ReportRead> = {}): ReportRead => ({
  id: 4,
  study_instance_uid: '1.2.3',
  order_id: null,
  accession_number: 'A1',
  animal_id: 7,
  status: 'draft',
  template_key: 'thorax-cat',
  title: 'Thoracic radiographs',
  findings: 'Normal lungs.',
  conclusion: '',
  recommendations: '',
  author: 'admin',
  signed_by: '',
  signed_by_name: '',
  signed_at: null,
  version: 0,
  amendment_reason: '',
  pdf_sop_instance_uid: '',
  pdf_url: '',
  withdrawn_reason: '',
  withdrawn_by: '',
  withdrawn_at: null,
  created_at: '2026-11-29T08:00:00',
  updated_at: '2026-11-29T08:00:00',
  ...over,
});

describe('report templates', () => {
  it('fits a species by the name the clinic shows, its common name or code; any-species templates always', () => {
    const [dog, cat, , dental, , general] = TEMPLATES;
    expect(fitsSpecies(cat, 'Feline')).toBe(true);
    expect(fitsSpecies(cat, 'cat')).toBe(true);
    expect(fitsSpecies(cat, '448169003')).toBe(true);
    expect(fitsSpecies(dog, 'Feline')).toBe(false);
    expect(fitsSpecies(dental, 'Canine')).toBe(true);
    expect(fitsSpecies(dental, 'Equine')).toBe(false);
    expect(fitsSpecies(general, 'Equine')).toBe(true);
    expect(fitsSpecies(dog, '')).toBe(false);
  });

  it("offers the species' templates, the study's region first, general last and always", () => {
    expect(templatesFor(TEMPLATES, 'Feline', ['ABDOMEN']).map((t) => t.key)).toEqual(['abdomen-cat', 'thorax-cat', 'dental', 'general']);
    expect(templatesFor(TEMPLATES, 'Equine', []).map((t) => t.key)).toEqual(['equine-limb', 'general']);
    expect(templatesFor(TEMPLATES, 'Python', ['CHEST']).map((t) => t.key)).toEqual(['general']);
  });

  it("preselects the species' template for the region (THORAX is the templates' CHEST), else general", () => {
    expect(suggestTemplate(TEMPLATES, 'Canine', ['THORAX'])).toBe('thorax-dog');
    expect(suggestTemplate(TEMPLATES, 'Feline', ['CHEST'])).toBe('thorax-cat');
    expect(suggestTemplate(TEMPLATES, 'Feline', ['PELVIS'])).toBe('general');
    expect(suggestTemplate(TEMPLATES, '', ['CHEST'])).toBe('general');
  });
});

describe('report form -> requests', () => {
  it('creates with the template key and every section as written', () => {
    const form = { ...formFrom(TEMPLATES[1]), conclusion: 'Bronchial pattern.' };
    expect(createBody('thorax-cat', form)).toEqual({
      template_key: 'thorax-cat',
      title: 'thorax-cat title',
      findings: 'thorax-cat findings',
      conclusion: 'Bronchial pattern.',
      recommendations: '',
    });
    expect(createBody('', form).template_key).toBe('general');
  });

  it('patches only the changed sections, clearing one included', () => {
    const saved = report();
    expect(changedSections(saved, formFrom(saved))).toEqual({});
    expect(changedSections(saved, { ...formFrom(saved), findings: '', conclusion: 'Normal.' })).toEqual({ findings: '', conclusion: 'Normal.' });
  });

  it('is dirty before the first save and after an edit', () => {
    const saved = report();
    expect(isDirty(undefined, formFrom(saved))).toBe(true);
    expect(isDirty(saved, formFrom(saved))).toBe(false);
    expect(isDirty(saved, { ...formFrom(saved), title: 'Other' })).toBe(true);
  });

  it('amends with a trimmed reason and the changed sections; an empty reason is refused', () => {
    const signed = report({ status: 'final', conclusion: 'Normal.', version: 1 });
    expect(amendBody(signed, { ...formFrom(signed), conclusion: 'Small nodule.' }, '  second look ')).toEqual({
      reason: 'second look',
      conclusion: 'Small nodule.',
    });
    expect(amendError('  ')).toBeTruthy();
    expect(amendError('typo')).toBeUndefined();
  });
});

describe('what the reader may do', () => {
  const VET = ['reports:read', 'reports:write', 'reports:sign'];
  const TECH = ['reports:read'];

  it('a vet writes and signs a draft, only amends a signed report', () => {
    expect(rights(VET, undefined)).toEqual({ edit: true, sign: false, amend: false, withdraw: false, readOnly: false });
    expect(rights(VET, 'draft')).toEqual({ edit: true, sign: true, amend: false, withdraw: false, readOnly: false });
    expect(rights(VET, 'final')).toEqual({ edit: false, sign: false, amend: true, withdraw: true, readOnly: true });
    expect(rights(VET, 'amended')).toEqual({ edit: false, sign: false, amend: true, withdraw: true, readOnly: true });
  });

  it('a withdrawn report is read-only for everyone, signers included', () => {
    expect(rights(VET, 'entered-in-error')).toEqual({ edit: false, sign: false, amend: false, withdraw: false, readOnly: true });
    expect(rights(TECH, 'entered-in-error').withdraw).toBe(false);
    expect(mayRewrite(VET, 'entered-in-error')).toBe(true);
    expect(mayRewrite(TECH, 'entered-in-error')).toBe(false);
    expect(mayRewrite(VET, 'final')).toBe(false);
    expect(mayRewrite(VET, undefined)).toBe(false);
    expect(isWithdrawn('entered-in-error') && !isWithdrawn('final')).toBe(true);
    expect(statusLabel('entered-in-error')).toBe('withdrawn (entered in error)');
    expect(statusLabel('final')).toBe('final');
  });

  it('a withdrawal needs a reason, sent trimmed', () => {
    expect(withdrawError('')).toBeTruthy();
    expect(withdrawError('   ')).toBeTruthy();
    expect(withdrawError('wrong patient')).toBeUndefined();
    expect(withdrawBody('  wrong patient \n')).toEqual({ reason: 'wrong patient' });
  });

  it('reports:read alone reads, a writer without reports:sign cannot sign or amend', () => {
    for (const status of [undefined, 'draft', 'final'] as const) {
      expect(rights(TECH, status)).toEqual({ edit: false, sign: false, amend: false, withdraw: false, readOnly: true });
    }
    const writer = ['reports:read', 'reports:write'];
    expect(rights(writer, 'draft')).toEqual({ edit: true, sign: false, amend: false, withdraw: false, readOnly: false });
    expect(rights(writer, 'final').amend).toBe(false);
    expect(rights(writer, 'final').withdraw).toBe(false);
  });

  it("opens the study's report that is not cancelled", () => {
    expect(currentReport([report({ id: 1, status: 'cancelled' }), report({ id: 2, status: 'final' })])?.id).toBe(2);
    expect(currentReport([report({ status: 'cancelled' })])).toBeUndefined();
  });

  it('opens a new report before a withdrawn one, and the withdrawn one when it is all there is', () => {
    const withdrawn = report({ id: 1, status: 'entered-in-error', withdrawn_reason: 'wrong patient' });
    expect(currentReport([report({ id: 3, status: 'draft' }), withdrawn])?.id).toBe(3);
    expect(currentReport([withdrawn, report({ id: 3, status: 'draft' })])?.id).toBe(3);
    expect(currentReport([report({ id: 2, status: 'cancelled' }), withdrawn])?.id).toBe(1);
  });
});
