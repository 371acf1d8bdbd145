/**
 * The billing screen (/billing) as data: shapes of the billing API (src/vetpacs/billing/schemas.py),
 * prices checked and formatted in whole cents (the API's amounts are decimal strings such as
 * "95.00"; no binary floating point touches money), totals per currency, the missed-charge reasons
 * in words with what fixes them, and the body of a fee list line. Pure functions, tested in
 * frontend/tests/clinic-billing.test.ts.
 */

export interface FeeRead {
  fee_code: string;
  description: string;
  unit_price: string;
  currency: string;
  tax_rate: string | null;
  active: boolean;
  updated_by: string;
  updated_at: string;
}

export interface ChargeRead {
  id: number;
  order_id: number | null;
  accession_number: string;
  order_status: string;
  animal_id: number;
  study_instance_uid: string;
  fee_code: string;
  description: string;
  quantity: string;
  unit_price: string;
  amount: string;
  currency: string;
  tax_rate: string | null;
  status: 'posted' | 'voided';
  source: 'procedure' | 'manual';
  note: string;
  posted_by: string;
  posted_at: string;
  voided_by: string;
  voided_at: string | null;
  void_reason: string;
}

export interface ChargingResult {
  order_id: number;
  order_status: string;
  posted: ChargeRead[];
  already_charged: string[];
  problems: string[];
  billed: boolean;
}

export type MissedReason = 'no-fee-code' | 'fee-not-in-list' | 'fee-inactive' | 'voided' | 'not-charged' | 'no-order';

export interface MissedOrder {
  order_id: number;
  accession_number: string;
  animal_id: number;
  order_status: string;
  procedure_codes: string[];
  fee_codes: string[];
  reason: MissedReason;
  detail: string;
  performed_at: string | null;
}

export interface UnbilledStudy {
  study_instance_uid: string;
  patient_id: string;
  patient_name: string;
  study_date: string;
  modalities: string;
  description: string;
  received_at: string;
  reason: MissedReason;
}

export interface MissedCharges {
  orders: MissedOrder[];
  studies: UnbilledStudy[];
  orders_total: number;
  studies_total: number;
}

// ------------------------------------------------------------------ money in cents

/** The largest price the fee list stores: Numeric(12,2), ten digits before the point. */
export const MAX_CENTS = 999_999_999_999;

const DECIMAL = /^(\d+)(?:[.,](\d*))?$/;

/**
 * A decimal string ("95", "95.5", "95.50", "95,50") -> whole cents (9550); undefined when it is
 * not a plain non-negative decimal with at most two decimals. No floating point is involved.
 */
export function parseCents(text: string): number | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const [, whole, frac = ''] = m;
  if (frac.length > 2) return undefined;
  const digits = whole.replace(/^0+(?=\d)/, '');
  if (digits.length > 10) return undefined;
  return Number(digits) * 100 + Number(frac.padEnd(2, '0'));
}

/** 9550 -> "95.50" (the API's decimal string); negative cents keep their sign. */
export function centsToDecimal(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(cents));
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * Cents of an amount as the API sends it ("95.00", "-12.5"): the sign kept, more than two decimals
 * rounded half up (the server never sends them; a defensive rule, not arithmetic on floats).
 */
export function amountCents(amount: string): number {
  const text = String(amount).trim();
  const negative = text.startsWith('-');
  const m = /^(\d+)(?:\.(\d*))?$/.exec(negative ? text.slice(1) : text);
  if (!m) return Number.NaN;
  const frac = (m[2] ?? '').padEnd(3, '0');
  let cents = Number(m[1]) * 100 + Number(frac.slice(0, 2));
  if (Number(frac[2]) >= 5) cents += 1;
  return negative ? -cents : cents;
}

/** "95.5" -> "95.50": an API amount with exactly two decimals (as it came when it does not parse). */
export function amountText(amount: string): string {
  const cents = amountCents(amount);
  return Number.isNaN(cents) ? String(amount) : centsToDecimal(cents);
}

/** "EUR 95.00" from an API amount and currency. */
export function formatMoney(amount: string, currency: string): string {
  return `${currency} ${amountText(amount)}`;
}

/** Posted amounts summed per currency in cents ("EUR 190.00", "GBP 12.00"), currencies sorted. */
export function totalsByCurrency(items: { amount: string; currency: string; status?: string }[]): string[] {
  const cents = new Map<string, number>();
  for (const item of items) {
    if (item.status && item.status !== 'posted') continue;
    const c = amountCents(item.amount);
    if (Number.isNaN(c)) continue;
    cents.set(item.currency, (cents.get(item.currency) ?? 0) + c);
  }
  return [...cents].sort(([a], [b]) => a.localeCompare(b)).map(([cur, v]) => `${cur} ${centsToDecimal(v)}`);
}

// ------------------------------------------------------------------ the fee list form

/** Why a typed price is refused, in words; undefined when it is a positive price with cents. */
export function priceError(text: string): string | undefined {
  const value = text.trim();
  if (!value) return 'Enter a price, e.g. 95.00.';
  if (value.startsWith('-')) return 'A price must be more than 0.';
  const m = DECIMAL.exec(value);
  if (!m) return 'A price is a number with at most 2 decimals, e.g. 95.00.';
  if ((m[2] ?? '').length > 2) return 'At most 2 decimals (whole cents), e.g. 95.50.';
  const cents = parseCents(value);
  if (cents === undefined || cents > MAX_CENTS) return 'The price is too large (at most 9999999999.99).';
  if (cents <= 0) return 'A price must be more than 0.';
  return undefined;
}

const FEE_CODE = /^[A-Za-z0-9._-]{1,32}$/;

/** A new fee code: 1 to 32 letters, digits, dot, underscore or hyphen (the server's rule). */
export function feeCodeError(code: string, existing: string[] = []): string | undefined {
  const value = code.trim();
  if (!value) return 'Enter the fee code the procedure catalog uses, e.g. RAD-PAW.';
  if (!FEE_CODE.test(value)) return 'Letters, digits, dot, underscore and hyphen only (at most 32).';
  if (existing.includes(value)) return `${value} is on the fee list already: edit its line.`;
  return undefined;
}

export interface FeeForm {
  description: string;
  price: string;
  currency: string;
  tax_rate: string;
  active: boolean;
}

export function feeToForm(fee: FeeRead | undefined): FeeForm {
  return {
    description: fee?.description ?? '',
    price: fee ? centsToDecimal(amountCents(fee.unit_price)) : '',
    currency: fee?.currency ?? '',
    tax_rate: fee?.tax_rate ?? '',
    active: fee?.active ?? true,
  };
}

/**
 * The body of PUT /fees/{code} from the form: the price as a two-decimal string from its cents, the
 * currency upper-cased (empty: the server's default), the tax rate as typed (the server checks it;
 * empty: none). Call only when priceError() is undefined.
 */
export function feeBody(form: FeeForm): Record<string, unknown> {
  const cents = parseCents(form.price);
  const currency = form.currency.trim().toUpperCase();
  const tax = form.tax_rate.trim().replace(',', '.');
  const body: Record<string, unknown> = {
    description: form.description.trim(),
    unit_price: cents === undefined ? form.price.trim() : centsToDecimal(cents),
    tax_rate: tax === '' ? null : tax,
    active: form.active,
  };
  if (currency) body.currency = currency;
  return body;
}

// ------------------------------------------------------------------ missed charges

export const REASONS: Record<MissedReason, { label: string; fix: string }> = {
  'no-fee-code': {
    label: 'No fee code',
    fix: 'A procedure of this order has no fee code: give it one in the procedure catalog (Admin), or charge it by hand.',
  },
  'fee-not-in-list': {
    label: 'Fee code not on the fee list',
    fix: 'Add the fee code to the fee list, then charge now.',
  },
  'fee-inactive': {
    label: 'Fee inactive',
    fix: 'Make the fee active on the fee list, then charge now.',
  },
  voided: {
    label: 'Charge voided',
    fix: 'Its charge was voided and nothing replaced it: post a corrected charge if the work is billable.',
  },
  'not-charged': {
    label: 'Not charged yet',
    fix: 'Priced but not charged (the worker is off or behind, or it was performed before billing started): charge now.',
  },
  'no-order': {
    label: 'No order',
    fix: 'Link the study to an order in the reconciliation queue, or charge it by hand.',
  },
};

export function reasonLabel(reason: string): string {
  return REASONS[reason as MissedReason]?.label ?? reason;
}

export function reasonFix(reason: string): string {
  return REASONS[reason as MissedReason]?.fix ?? '';
}

/**
 * Whether "Charge now" can post something for a missed order: not for a voided charge (the
 * automatic path never re-posts a voided fee code) nor for a procedure without a fee code.
 */
export function canChargeNow(order: Pick<MissedOrder, 'reason'>): boolean {
  return order.reason !== 'voided' && order.reason !== 'no-fee-code';
}

/** What a "Charge now" did, in one sentence: "Posted RAD-THX2 EUR 95.00." plus what still blocks. */
export function chargingSummary(result: ChargingResult): string {
  const parts: string[] = [];
  if (result.posted.length) {
    const lines = result.posted.map((c) => `${c.fee_code} ${formatMoney(c.amount, c.currency)}`);
    const total = totalsByCurrency(result.posted);
    parts.push(`Posted ${lines.join(', ')}${result.posted.length > 1 ? ` (total ${total.join(' + ')})` : ''}.`);
  } else {
    parts.push('Nothing posted.');
  }
  if (result.already_charged.length) parts.push(`Charged before: ${result.already_charged.join(', ')}.`);
  if (result.problems.length) parts.push(`Still not charged: ${result.problems.join('; ')}.`);
  if (result.billed) parts.push('The order is now billed.');
  return parts.join(' ');
}

export const PARTS = [
  { key: 'fees', label: 'Fee list' },
  { key: 'missed', label: 'Missed charges' },
] as const;
export type Part = (typeof PARTS)[number]['key'];

/** The part of /billing/:part, the fee list when none is given; undefined for an unknown one. */
export function partOf(value: string | undefined): Part | undefined {
  if (value === undefined || value === '') return 'fees';
  return PARTS.find((p) => p.key === value)?.key;
}

// ------------------------------------------------------------------ a manual charge (the chart)

/** The chart's "Add charge" form as typed: a fee code, a quantity, an order of the animal or none, a note. */
export interface ChargeForm {
  fee_code: string;
  quantity: string;
  order_id: string; // '' = no order: the charge is on the animal
  note: string;
}

export type ChargeField = keyof ChargeForm;

export function emptyChargeForm(): ChargeForm {
  return { fee_code: '', quantity: '1', order_id: '', note: '' };
}

/** The fees a manual charge may use: the active ones (the server refuses an inactive fee), by code. */
export function chargeableFees(fees: FeeRead[]): FeeRead[] {
  return fees.filter((f) => f.active).sort((a, b) => a.fee_code.localeCompare(b.fee_code));
}

/** The largest quantity the server takes: Numeric(10,2), eight digits before the point. */
export const MAX_QUANTITY_HUNDREDTHS = 9_999_999_999;

/** Why a typed quantity is refused; undefined for a number above 0 with at most 2 decimals. */
export function quantityError(text: string): string | undefined {
  const value = text.trim();
  if (!value) return 'Enter a quantity, e.g. 1.';
  if (value.startsWith('-')) return 'A quantity must be more than 0.';
  const m = DECIMAL.exec(value);
  if (!m) return 'A quantity is a number with at most 2 decimals, e.g. 1 or 0.5.';
  if ((m[2] ?? '').length > 2) return 'At most 2 decimals, e.g. 1.25.';
  const hundredths = parseCents(value);
  if (hundredths === undefined || hundredths > MAX_QUANTITY_HUNDREDTHS) return 'The quantity is too large.';
  if (hundredths <= 0) return 'A quantity must be more than 0.';
  return undefined;
}

/**
 * The form's problems by field, checked before sending (the server checks again): a fee of the
 * list that is active, a quantity above 0, a note of at most 2000 characters. {} when it may be sent.
 */
export function chargeFormErrors(form: ChargeForm, fees: FeeRead[]): Partial<Record<ChargeField, string>> {
  const out: Partial<Record<ChargeField, string>> = {};
  const code = form.fee_code.trim();
  const fee = fees.find((f) => f.fee_code === code);
  if (!code) out.fee_code = 'Pick a fee from the fee list.';
  else if (!fee) out.fee_code = `${code} is not on the fee list.`;
  else if (!fee.active) out.fee_code = `${code} is inactive on the fee list.`;
  const quantity = quantityError(form.quantity);
  if (quantity) out.quantity = quantity;
  if (form.order_id && !/^[1-9]\d*$/.test(form.order_id)) out.order_id = 'Pick one of the animal\'s orders, or none.';
  if (form.note.length > 2000) out.note = 'At most 2000 characters.';
  return out;
}

/**
 * The body of POST /charges (src/vetpacs/billing/schemas.py ChargeCreate) from the form: the fee
 * code, the quantity as a decimal string ("1.50" -> "1.50", "2" -> "2.00", a comma read as a point),
 * the order when one is picked (the server charges its animal) else the animal, the note trimmed
 * when given. The price and description are the fee list's. Call only when chargeFormErrors() is {}.
 */
export function chargeBody(form: ChargeForm, animalId: number): Record<string, unknown> {
  const hundredths = parseCents(form.quantity);
  const body: Record<string, unknown> = {
    fee_code: form.fee_code.trim(),
    quantity: hundredths === undefined ? form.quantity.trim() : centsToDecimal(hundredths),
  };
  if (form.order_id) body.order_id = Number(form.order_id);
  else body.animal_id = animalId;
  const note = form.note.trim();
  if (note) body.note = note;
  return body;
}

/** "RAD-THX2 — Thorax, two views (EUR 95.00)": a fee as the picker lists it. */
export function feeLabel(fee: FeeRead): string {
  return `${fee.fee_code} — ${fee.description} (${formatMoney(fee.unit_price, fee.currency)})`;
}

/** What the quantity costs at the fee's price, e.g. "EUR 142.50"; '' while either does not parse. */
export function chargePreview(fee: FeeRead | undefined, quantity: string): string {
  if (!fee || quantityError(quantity)) return '';
  const price = amountCents(fee.unit_price);
  const q = parseCents(quantity);
  if (Number.isNaN(price) || q === undefined) return '';
  // cents * hundredths / 100, rounded half up, in integers (no floating point on money)
  const product = BigInt(price) * BigInt(q);
  const cents = (product + 50n) / 100n;
  return `${fee.currency} ${centsToDecimal(Number(cents))}`;
}
