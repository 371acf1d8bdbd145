/**
 * Billing, the fee list (/billing/fees): every line (code, description, price, currency, tax rate,
 * active) with an inline edit and a form to add a fee code, both PUT /fees/{code} (billing:write).
 * The price is checked here (positive, whole cents); the server checks everything and its field
 * errors are shown beside the fields. `?fee=CODE` opens that line (or prefills the add form), so
 * the missed-charge report can link to the fix.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { FormError, when } from './admin-kit';
import { fieldMessage } from './admin-model';
import { get, put } from './api';
import { type FeeForm, type FeeRead, amountText, feeBody, feeCodeError, feeToForm, formatMoney, priceError } from './billing-model';
import { Empty, ErrorBanner, Field, Loading, useAction, useAsync } from './ui';

const idOf = (code: string): string => `fee-${code.replace(/[^A-Za-z0-9_-]/g, '_')}`;

function FeeFormCard(props: {
  fee?: FeeRead;
  code?: string; // prefilled code of a new line
  existing: string[];
  onSaved: (fee: FeeRead) => void;
  onCancel?: () => void;
}): JSX.Element {
  const f = props.fee;
  const prefix = f ? idOf(f.fee_code) : 'fee-new';
  const [code, setCode] = useState(props.code ?? '');
  const [form, setForm] = useState<FeeForm>(() => feeToForm(f));
  const [checked, setChecked] = useState<{ code?: string; price?: string; description?: string }>({});
  const save = useAction(
    (feeCode: string, body: Record<string, unknown>) => put<FeeRead>(`/fees/${encodeURIComponent(feeCode)}`, body),
    (r) => `Fee ${r.fee_code} ${f ? 'saved' : 'added'}: ${formatMoney(r.unit_price, r.currency)}`,
  );
  const set = (key: keyof FeeForm) => (e: Event) => {
    const el = e.target as HTMLInputElement;
    setForm({ ...form, [key]: el.type === 'checkbox' ? el.checked : el.value });
  };
  const err = (field: string): string | undefined => fieldMessage(save.error, field);
  return (
    <form
      class="card admin-form fee-form"
      noValidate
      aria-label={f ? `Edit fee ${f.fee_code}` : 'Add a fee code'}
      onSubmit={async (e) => {
        e.preventDefault();
        const feeCode = f ? f.fee_code : code.trim();
        const found = {
          code: f ? undefined : feeCodeError(code, props.existing),
          price: priceError(form.price),
          description: form.description.trim() ? undefined : 'Enter a description, e.g. Thorax, 2 views.',
        };
        setChecked(found);
        if (found.code || found.price || found.description) {
          const first = found.code ? 'code' : found.description ? 'description' : 'price';
          document.getElementById(`${prefix}-${first}`)?.focus();
          return;
        }
        const saved = await save.run(feeCode, feeBody(form));
        if (saved) {
          if (!f) {
            setCode('');
            setForm(feeToForm(undefined));
          }
          props.onSaved(saved);
        }
      }}
    >
      {!f && <h2>Add a fee code</h2>}
      <div class="row">
        {!f && (
          <Field label="Fee code" id={`${prefix}-code`} error={checked.code || err('fee_code')} hint="The code the procedure catalog names">
            <input id={`${prefix}-code`} class="mono" value={code} maxLength={32} onInput={(e) => setCode((e.target as HTMLInputElement).value)} required />
          </Field>
        )}
        <Field label="Description" id={`${prefix}-description`} error={checked.description || err('description')}>
          <input id={`${prefix}-description`} value={form.description} maxLength={128} onInput={set('description')} required />
        </Field>
        <Field label="Price" id={`${prefix}-price`} error={checked.price || err('unit_price')} hint="e.g. 95.00">
          <input id={`${prefix}-price`} inputMode="decimal" value={form.price} onInput={set('price')} required class="num" />
        </Field>
        <Field label="Currency" id={`${prefix}-currency`} error={err('currency')} hint={f ? 'ISO 4217, e.g. EUR' : 'ISO 4217; empty: the clinic’s'}>
          <input id={`${prefix}-currency`} value={form.currency} maxLength={3} onInput={set('currency')} class="mono short" />
        </Field>
        <Field label="Tax rate (%)" id={`${prefix}-tax`} error={err('tax_rate')} hint="Optional, carried to the PMS">
          <input id={`${prefix}-tax`} inputMode="decimal" value={form.tax_rate} onInput={set('tax_rate')} class="num short" />
        </Field>
      </div>
      <label class="check">
        <input type="checkbox" id={`${prefix}-active`} checked={form.active} onChange={set('active')} /> Active (charged when performed)
      </label>
      <div class="row">
        <button type="submit" class="primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : f ? 'Save' : 'Add fee'}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel} disabled={save.busy}>
            Cancel
          </button>
        )}
        <FormError error={save.error} />
      </div>
    </form>
  );
}

export function FeesPart(props: { canWrite: boolean; focus?: string; onChanged?: () => void }): JSX.Element {
  const fees = useAsync((signal) => get<FeeRead[]>('/fees', { include_inactive: true }, signal), []);
  const codes = fees.data?.map((x) => x.fee_code) ?? [];
  const focusKnown = props.focus !== undefined && codes.includes(props.focus);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const [opened, setOpened] = useState(false);
  const current = editing ?? (!opened && focusKnown ? props.focus : undefined);
  const close = (): void => {
    setOpened(true);
    setEditing(undefined);
  };
  const saved = (): void => {
    close();
    fees.reload();
    props.onChanged?.();
  };
  return (
    <>
      {props.canWrite ? (
        fees.data && <FeeFormCard key={focusKnown ? 'new' : props.focus ?? 'new'} code={focusKnown ? '' : props.focus} existing={codes} onSaved={saved} />
      ) : (
        <p class="muted">You can read the fee list; changing it needs the billing:write permission.</p>
      )}
      <ErrorBanner error={fees.error} />
      {!fees.data && fees.loading && <Loading />}
      {fees.data && fees.data.length === 0 && <Empty>The fee list is empty: add the first fee code above (or run vetpacs catalog seed).</Empty>}
      {fees.data && fees.data.length > 0 && (
        <div class="table-scroll">
          <table class="admin-table fee-table">
            <caption class="sr-only">Fee list</caption>
            <thead>
              <tr>
                <th scope="col">Code</th>
                <th scope="col">Description</th>
                <th scope="col" class="num">
                  Price
                </th>
                <th scope="col">Currency</th>
                <th scope="col" class="num">
                  Tax rate
                </th>
                <th scope="col">Status</th>
                <th scope="col">Changed</th>
                {props.canWrite && <th scope="col" />}
              </tr>
            </thead>
            <tbody>
              {fees.data.map((fee) =>
                current === fee.fee_code && props.canWrite ? (
                  <tr key={fee.fee_code} data-fee={fee.fee_code} aria-current="true">
                    <td colSpan={8}>
                      <strong class="mono">{fee.fee_code}</strong>
                      <FeeFormCard fee={fee} existing={codes} onSaved={saved} onCancel={close} />
                    </td>
                  </tr>
                ) : (
                  <tr key={fee.fee_code} data-fee={fee.fee_code} data-active={String(fee.active)}>
                    <td class="mono">{fee.fee_code}</td>
                    <td>{fee.description}</td>
                    <td class="num price">{amountText(fee.unit_price)}</td>
                    <td>{fee.currency}</td>
                    <td class="num">{fee.tax_rate !== null ? `${fee.tax_rate} %` : '—'}</td>
                    <td>{fee.active ? <span class="badge ok">active</span> : <span class="badge warn">inactive</span>}</td>
                    <td class="small muted">
                      {when(fee.updated_at)} {fee.updated_by && `· ${fee.updated_by}`}
                    </td>
                    {props.canWrite && (
                      <td>
                        <button type="button" aria-label={`Edit ${fee.fee_code}`} onClick={() => setEditing(fee.fee_code)}>
                          Edit
                        </button>
                      </td>
                    )}
                  </tr>
                ),
              )}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
