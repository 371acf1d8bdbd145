import { describe, expect, it } from 'vitest';
import { listPriors, priorHref, priorText, priorsQuery } from '../src/priors';
import type { DicomJson } from '../src/dicomweb';

const study = (uid: string, date: string, modalities: string[], description = ''): DicomJson => ({
  '0020000D': { vr: 'UI', Value: [uid] },
  '00080020': { vr: 'DA', Value: date ? [date] : [] },
  '00080061': { vr: 'CS', Value: modalities },
  '00081030': { vr: 'LO', Value: description ? [description] : [] },
});

describe('priors', () => {
  it('queries the archive by Patient ID (not the issuer, which modalities may leave out)', () => {
    const q = priorsQuery({
      '00100020': { vr: 'LO', Value: ['PMS 47/11'] },
      '00100021': { vr: 'LO', Value: ['CLINIC'] },
    });
    expect(q).toContain('/studies?PatientID=PMS+47%2F11');
    expect(q).not.toContain('Issuer');
    expect(q).toContain('includefield=00080061');
    expect(priorsQuery({})).toBeUndefined();
  });

  it('lists the other studies newest first, undated last, without the current one', () => {
    const list = listPriors(
      [
        study('1.1', '20240101', ['DX']),
        study('1.2', '20260301', ['CT', 'SR'], 'CT thorax'),
        study('1.3', '', ['US']),
        study('1.4', '20250615', ['DX']),
        study('1.2', '20260301', ['CT']),
      ],
      '1.4',
    );
    expect(list.map((p) => p.uid)).toEqual(['1.2', '1.1', '1.3']);
    expect(priorText(list[0])).toBe('2026-03-01 · CT/SR · CT thorax');
    expect(priorText(list[2])).toBe('no date · US');
  });

  it('links to the current study with the prior beside it', () => {
    const href = priorHref('?accession=A1&render=cpu', '1.4', '1.2');
    const params = new URLSearchParams(href);
    expect(params.get('StudyInstanceUID')).toBe('1.4');
    expect(params.get('prior')).toBe('1.2');
    expect(params.get('render')).toBe('cpu');
    expect(params.has('accession')).toBe(false);
  });
});

describe('opening by patient id', () => {
  it('takes the newest study (date, then time; undated last)', async () => {
    const { newestStudy } = await import('../src/dicomweb');
    const s = (uid: string, date: string, time = ''): DicomJson => ({
      '0020000D': { vr: 'UI', Value: [uid] },
      '00080020': { vr: 'DA', Value: date ? [date] : [] },
      '00080030': { vr: 'TM', Value: time ? [time] : [] },
    });
    const pick = newestStudy([s('a', '20250101'), s('b', '20260301', '090000'), s('c', ''), s('d', '20260301', '101500')]);
    expect(pick?.['0020000D'].Value).toEqual(['d']);
    expect(newestStudy([])).toBeUndefined();
  });
});
