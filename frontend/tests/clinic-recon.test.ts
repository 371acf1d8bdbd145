import { describe, expect, it } from 'vitest';
import { dicomDate, linkBody, mergeTouched, patientLabel, rankCandidates, reasonText, splitPatientName, studyFacts, type ReconItem } from '../src/clinic/recon-model';

const item = (id: number, created: string, status: ReconItem['status'] = 'open'): ReconItem => ({
  id,
  study_instance_uid: `1.2.${id}`,
  reason: 'no-order',
  detail: '',
  candidates: [],
  status,
  order_id: null,
  animal_id: null,
  resolved_by: '',
  resolved_at: null,
  created_at: created,
  patient_id: `P${id}`,
  patient_name: 'OWNER^Rex',
  accession_number: '',
  study_date: '20261129',
});

describe('reconciliation model', () => {
  it('reads veterinary patient names (owner family ^ animal)', () => {
    expect(splitPatientName('NIELSEN^Simba')).toEqual({ animal: 'Simba', owner: 'NIELSEN' });
    expect(patientLabel('NIELSEN^Simba')).toBe('Simba (NIELSEN)');
    expect(patientLabel('Rex')).toBe('Rex');
    expect(patientLabel('')).toBe('(no name)');
    expect(patientLabel('BAKER^Luna=ベーカー^ルナ')).toBe('Luna (BAKER)');
  });
  it('explains reasons and keeps unknown ones visible', () => {
    expect(reasonText('no-order')).toBe('No order matches this study');
    expect(reasonText('breed-mismatch')).toBe('breed mismatch');
  });
  it('ranks candidates and links to the order when there is one', () => {
    const ranked = rankCandidates([
      { order_id: null, animal_id: 1, accession_number: '', score: 8, why: [] },
      { order_id: 5, animal_id: 2, accession_number: 'A5', score: 8, why: [] },
      { order_id: null, animal_id: 3, accession_number: '', score: 14, why: [] },
    ]);
    expect(ranked.map((c) => c.animal_id)).toEqual([3, 2, 1]);
    expect(linkBody(ranked[1])).toEqual({ order_id: 5 });
    expect(linkBody(ranked[0])).toEqual({ animal_id: 3 });
  });
  it('reads QIDO-RS study attributes', () => {
    const facts = studyFacts({
      '00080061': { vr: 'CS', Value: ['DX', 'SR'] },
      '00081030': { vr: 'LO', Value: ['Thorax'] },
      '00102201': { vr: 'LO', Value: ['Canine'] },
      '00201208': { vr: 'IS', Value: [3] },
      '00080090': { vr: 'PN', Value: [{ Alphabetic: 'OKAFOR^Daniel' }] },
    });
    expect(facts).toEqual({ modality: 'DX, SR', description: 'Thorax', species: 'Canine', images: 3, referrer: 'OKAFOR Daniel' });
    expect(studyFacts(undefined).images).toBeUndefined();
    expect(dicomDate('20250218')).toBe('2025-02-18');
  });
  it('keeps items acted on in the list, the fetched copy winning', () => {
    const touched = new Map([[2, item(2, '2026-11-29T08:00:00', 'linked')], [1, item(1, '2026-11-29T09:00:00', 'linked')]]);
    const rows = mergeTouched([item(1, '2026-11-29T09:00:00', 'open'), item(3, '2026-11-29T10:00:00')], touched);
    expect(rows.map((r) => [r.id, r.status])).toEqual([[2, 'linked'], [1, 'open'], [3, 'open']]);
  });
});
