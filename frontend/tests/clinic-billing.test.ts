import { describe, expect, it } from 'vitest';
import {
  type ChargeRead,
  type ChargingResult,
  amountCents,
  amountText,
  type FeeRead,
  canChargeNow,
  centsToDecimal,
  chargeBody,
  chargeFormErrors,
  chargePreview,
  chargeableFees,
  emptyChargeForm,
  feeLabel,
  quantityError,
  chargingSummary,
  feeBody,
  feeCodeError,
  feeToForm,
  formatMoney,
  parseCents,
  partOf,
  priceError,
  reasonFix,
  reasonLabel,
  totalsByCurrency,
} from '../src/clinic/billing-model';

const charge = (fee_code: string, amount: string, currency = 'EUR'): ChargeRead => ({
  id: 1,
  order_id: 7,
  accession_number: 'A1',
  order_status: 'images_received',
  animal_id: 3,
  study_instance_uid: '',
  fee_code,
  description: '',
  quantity: '1.00',
  unit_price: amount,
  amount,
  currency,
  tax_rate: null,
  status: 'posted',
  source: 'procedure',
  note: '',
  posted_by: 'admin',
  posted_at: '2026-11-29T10:00:00',
  voided_by: '',
  voided_at: null,
  void_reason: '',
});

describe('prices in cents', () => {
  it('parses plain decimals with at most two decimals into whole cents', () => {
    expect(parseCents('95')).toBe(9500);
    expect(parseCents('95.5')).toBe(9550);
    expect(parseCents('95.50')).toBe(9550);
    expect(parseCents(' 0.07 ')).toBe(7);
    expect(parseCents('95,50')).toBe(9550);
    expect(parseCents('95.')).toBe(9500);
    expect(parseCents('0.10')).toBe(10); // no 0.1 * 100 = 10.000000000000002
    expect(parseCents('1.005')).toBeUndefined();
    expect(parseCents('-5')).toBeUndefined();
    expect(parseCents('1e3')).toBeUndefined();
    expect(parseCents('abc')).toBeUndefined();
    expect(parseCents('')).toBeUndefined();
    expect(parseCents('9999999999.99')).toBe(999_999_999_999);
    expect(parseCents('10000000000')).toBeUndefined(); // eleven digits: more than Numeric(12,2)
  });

  it('formats cents back as the API decimal string', () => {
    expect(centsToDecimal(9550)).toBe('95.50');
    expect(centsToDecimal(7)).toBe('0.07');
    expect(centsToDecimal(0)).toBe('0.00');
    expect(centsToDecimal(-1250)).toBe('-12.50');
    expect(amountCents('95.00')).toBe(9500);
    expect(amountCents('-12.5')).toBe(-1250);
    expect(amountCents('0.125')).toBe(13); // half up, as the server rounds
    expect(Number.isNaN(amountCents('x'))).toBe(true);
    expect(amountText('95.5')).toBe('95.50');
    expect(formatMoney('420', 'GBP')).toBe('GBP 420.00');
    expect(formatMoney('oops', 'EUR')).toBe('EUR oops');
  });

  it('says why a price is refused: positive, at most two decimals', () => {
    expect(priceError('95.00')).toBeUndefined();
    expect(priceError('0.01')).toBeUndefined();
    expect(priceError('')).toMatch(/Enter a price/);
    expect(priceError('0')).toMatch(/more than 0/);
    expect(priceError('0.00')).toMatch(/more than 0/);
    expect(priceError('-5')).toMatch(/more than 0/);
    expect(priceError('95.123')).toMatch(/At most 2 decimals/);
    expect(priceError('ninety')).toMatch(/number with at most 2 decimals/);
    expect(priceError('1.2.3')).toMatch(/number with at most 2 decimals/);
    expect(priceError('12345678901')).toMatch(/too large/);
  });

  it('sums posted amounts per currency in cents, voided ones left out', () => {
    const items = [
      { amount: '0.10', currency: 'EUR', status: 'posted' },
      { amount: '0.20', currency: 'EUR', status: 'posted' },
      { amount: '95.00', currency: 'EUR', status: 'voided' },
      { amount: '420.00', currency: 'GBP' },
      { amount: '-20.00', currency: 'GBP' },
    ];
    expect(totalsByCurrency(items)).toEqual(['EUR 0.30', 'GBP 400.00']); // 0.1 + 0.2 is 0.30, not 0.30000000000000004
    expect(totalsByCurrency([])).toEqual([]);
  });
});

describe('fee list form', () => {
  it('checks a new fee code against the server rule and the list', () => {
    expect(feeCodeError('RAD-PAW')).toBeUndefined();
    expect(feeCodeError('')).toMatch(/Enter the fee code/);
    expect(feeCodeError('RAD PAW')).toMatch(/Letters, digits/);
    expect(feeCodeError('X'.repeat(33))).toMatch(/at most 32/);
    expect(feeCodeError('RAD-THX2', ['RAD-THX2'])).toMatch(/on the fee list already/);
  });

  it('builds the PUT body with the price from its cents and the defaults left to the server', () => {
    expect(feeBody({ description: ' Paw, 2 views ', price: '85,5', currency: 'eur', tax_rate: '', active: true })).toEqual({
      description: 'Paw, 2 views',
      unit_price: '85.50',
      currency: 'EUR',
      tax_rate: null,
      active: true,
    });
    const body = feeBody({ description: 'Thorax', price: '99.50', currency: '', tax_rate: '7,7', active: false });
    expect(body).toEqual({ description: 'Thorax', unit_price: '99.50', tax_rate: '7.7', active: false });
    expect('currency' in body).toBe(false);
  });

  it('fills the form from a fee line', () => {
    const form = feeToForm({
      fee_code: 'RAD-THX2',
      description: 'Thorax, 2 views',
      unit_price: '95.5',
      currency: 'EUR',
      tax_rate: '8.10',
      active: false,
      updated_by: 'admin',
      updated_at: '2026-11-29T10:00:00',
    });
    expect(form).toEqual({ description: 'Thorax, 2 views', price: '95.50', currency: 'EUR', tax_rate: '8.10', active: false });
    expect(feeToForm(undefined)).toEqual({ description: '', price: '', currency: '', tax_rate: '', active: true });
  });
});

describe('missed charges', () => {
  it('names every reason of the report and what fixes it', () => {
    for (const reason of ['no-fee-code', 'fee-not-in-list', 'fee-inactive', 'voided', 'not-charged', 'no-order']) {
      expect(reasonLabel(reason)).not.toBe(reason);
      expect(reasonFix(reason)).not.toBe('');
    }
    expect(reasonLabel('fee-inactive')).toBe('Fee inactive');
    expect(reasonFix('fee-not-in-list')).toMatch(/Add the fee code/);
    expect(reasonLabel('something-new')).toBe('something-new');
    expect(reasonFix('something-new')).toBe('');
  });

  it('offers "Charge now" only where charging can post something', () => {
    expect(canChargeNow({ reason: 'fee-inactive' })).toBe(true);
    expect(canChargeNow({ reason: 'fee-not-in-list' })).toBe(true);
    expect(canChargeNow({ reason: 'not-charged' })).toBe(true);
    expect(canChargeNow({ reason: 'voided' })).toBe(false);
    expect(canChargeNow({ reason: 'no-fee-code' })).toBe(false);
  });

  it('sums up what charging an order did', () => {
    const result = (over: Partial<ChargingResult>): ChargingResult => ({
      order_id: 7,
      order_status: 'images_received',
      posted: [],
      already_charged: [],
      problems: [],
      billed: false,
      ...over,
    });
    expect(chargingSummary(result({ posted: [charge('RAD-THX2', '99.50')] }))).toBe('Posted RAD-THX2 EUR 99.50.');
    expect(chargingSummary(result({ posted: [charge('RAD-THX2', '0.10'), charge('RAD-PAW', '0.20')], billed: true }))).toBe(
      'Posted RAD-THX2 EUR 0.10, RAD-PAW EUR 0.20 (total EUR 0.30). The order is now billed.',
    );
    expect(chargingSummary(result({ already_charged: ['RAD-THX2'], problems: ['fee code RAD-PAW is inactive in the fee list'] }))).toBe(
      'Nothing posted. Charged before: RAD-THX2. Still not charged: fee code RAD-PAW is inactive in the fee list.',
    );
  });

  it('reads the part of /billing/:part from the URL', () => {
    expect(partOf(undefined)).toBe('fees');
    expect(partOf('missed')).toBe('missed');
    expect(partOf('fees')).toBe('fees');
    expect(partOf('invoices')).toBeUndefined();
  });
});

describe('a manual charge from the chart', () => {
  const fee = (fee_code: string, unit_price: string, active = true): FeeRead => ({
    fee_code,
    description: `${fee_code} fee`,
    unit_price,
    currency: 'EUR',
    tax_rate: null,
    active,
    updated_by: 'admin',
    updated_at: '2026-11-29T08:00:00',
  });
  const FEES = [fee('RAD-THX2', '95.00'), fee('CONSULT', '45.50'), fee('OLD', '10.00', false)];

  it('offers the active fees by code', () => {
    expect(chargeableFees(FEES).map((f) => f.fee_code)).toEqual(['CONSULT', 'RAD-THX2']);
    expect(feeLabel(FEES[0])).toBe('RAD-THX2 — RAD-THX2 fee (EUR 95.00)');
  });

  it('checks the quantity: above 0, at most 2 decimals, a comma read as a point', () => {
    expect(quantityError('1')).toBeUndefined();
    expect(quantityError('0,5')).toBeUndefined();
    expect(quantityError('1.25')).toBeUndefined();
    expect(quantityError('')).toMatch(/Enter a quantity/);
    expect(quantityError('0')).toMatch(/more than 0/);
    expect(quantityError('-1')).toMatch(/more than 0/);
    expect(quantityError('1.255')).toMatch(/2 decimals/);
    expect(quantityError('two')).toMatch(/number/);
    expect(quantityError('100000000')).toMatch(/too large/);
  });

  it('names each problem of the form by field before sending', () => {
    expect(chargeFormErrors(emptyChargeForm(), FEES)).toEqual({ fee_code: 'Pick a fee from the fee list.' });
    const errors = chargeFormErrors({ fee_code: 'OLD', quantity: '0', order_id: 'x', note: 'n'.repeat(2001) }, FEES);
    expect(Object.keys(errors).sort()).toEqual(['fee_code', 'note', 'order_id', 'quantity']);
    expect(errors.fee_code).toMatch(/inactive/);
    expect(chargeFormErrors({ ...emptyChargeForm(), fee_code: 'NOPE' }, FEES).fee_code).toMatch(/not on the fee list/);
    expect(chargeFormErrors({ fee_code: 'CONSULT', quantity: '2', order_id: '12', note: '' }, FEES)).toEqual({});
  });

  it('builds POST /charges: the order when one is picked, else the animal; quantity with two decimals', () => {
    expect(chargeBody({ fee_code: ' CONSULT ', quantity: '2', order_id: '', note: '  ' }, 7)).toEqual({
      fee_code: 'CONSULT',
      quantity: '2.00',
      animal_id: 7,
    });
    expect(chargeBody({ fee_code: 'RAD-THX2', quantity: '0,5', order_id: '12', note: ' second view ' }, 7)).toEqual({
      fee_code: 'RAD-THX2',
      quantity: '0.50',
      order_id: 12,
      note: 'second view',
    });
  });

  it('previews the amount in whole cents, rounded half up like the server', () => {
    expect(chargePreview(FEES[1], '3')).toBe('EUR 136.50');
    expect(chargePreview(fee('X', '0.05'), '0.5')).toBe('EUR 0.03'); // 0.025 -> 0.03
    expect(chargePreview(FEES[0], '0')).toBe('');
    expect(chargePreview(undefined, '1')).toBe('');
  });
});
