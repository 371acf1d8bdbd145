import { describe, expect, it } from 'vitest';
import { totalsByCurrency } from '../src/clinic/billing-model';
import type { ChargeSummary } from '../src/clinic/search-model';

const charge = (amount: string, currency = 'EUR', status: ChargeSummary['status'] = 'posted'): ChargeSummary => ({
  id: 1,
  accession_number: '',
  fee_code: 'RAD-THX2',
  description: '',
  quantity: '1',
  amount,
  currency,
  status,
  posted_at: '2026-11-29T10:00:00',
});

describe('chart charges', () => {
  it('sums posted charges per currency in cents, voided ones left out', () => {
    expect(totalsByCurrency([charge('95.10'), charge('0.20'), charge('420.00', 'GBP'), charge('50.00', 'EUR', 'voided')])).toEqual([
      'EUR 95.30',
      'GBP 420.00',
    ]);
    expect(totalsByCurrency([])).toEqual([]);
  });
});
