/**
 * "Add charge" on the patient chart (billing:write): a modal dialog to post a manual charge
 * (POST /charges, docs/billing.md): a fee of the fee list (GET /fees, active ones), the quantity,
 * optionally one of the animal's orders, a note. The form is checked with billing-model's
 * chargeFormErrors before sending; the server's field errors (422) and refusals (400 unknown or
 * inactive fee, order of another animal) show beside the fields or under the form. Each send
 * carries an Idempotency-Key that changes with the form, so a retried request never posts twice.
 */
import type { JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { FormError } from './admin-kit';
import { fieldMessage } from './admin-model';
import { get, post } from './api';
import {
  type ChargeField,
  type ChargeForm,
  type ChargeRead,
  type FeeRead,
  chargeBody,
  chargeFormErrors,
  chargePreview,
  chargeableFees,
  emptyChargeForm,
  feeLabel,
} from './billing-model';
import type { OrderRead } from './order-model';
import { ErrorBanner, Field, Loading, useAction, useAsync } from './ui';

function newKey(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto
    ? crypto.randomUUID()
    : `charge-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

function orderLabel(order: OrderRead): string {
  const procedures = order.steps.map((s) => s.procedure_name).filter(Boolean);
  return [order.accession_number, procedures.join(', '), order.status.replace(/_/g, ' ')].filter(Boolean).join(' · ');
}

export function AddChargeButton(props: { animalId: number; orders: OrderRead[]; onAdded: (charge: ChargeRead) => void }): JSX.Element {
  const dialog = useRef<HTMLDialogElement>(null);
  const key = useRef(newKey());
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState<ChargeForm>(emptyChargeForm());
  const [problems, setProblems] = useState<Partial<Record<ChargeField, string>>>({});
  const fees = useAsync(
    (signal) => (open ? get<FeeRead[]>('/fees', { include_inactive: false }, signal).then(chargeableFees) : Promise.resolve([])),
    [open],
  );
  const adding = useAction(
    (body: Record<string, unknown>) => post<ChargeRead>('/charges', body, { 'Idempotency-Key': key.current }),
    (c) => `Charge ${c.fee_code} added`,
  );
  const set = (field: ChargeField, value: string): void => {
    setForm((f) => ({ ...f, [field]: value }));
    setProblems((p) => ({ ...p, [field]: undefined }));
    key.current = newKey(); // another body: another request
  };
  const error = (field: ChargeField): string | undefined => problems[field] ?? fieldMessage(adding.error, field);
  const close = (): void => {
    dialog.current?.close();
    setOpen(false);
  };
  const feeList = fees.data ?? [];
  const chosen = feeList.find((f) => f.fee_code === form.fee_code);
  const preview = chargePreview(chosen, form.quantity);
  return (
    <>
      <button
        type="button"
        class="small"
        aria-haspopup="dialog"
        onClick={() => {
          setForm(emptyChargeForm());
          setProblems({});
          key.current = newKey();
          setOpen(true);
          dialog.current?.showModal();
        }}
      >
        Add charge
      </button>
      <dialog ref={dialog} class="void-dialog add-charge-dialog" aria-labelledby="add-charge-title" onClose={() => setOpen(false)}>
        <form
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            const found = chargeFormErrors(form, feeList);
            setProblems(found);
            const first = (Object.keys(found) as ChargeField[])[0];
            if (first) {
              document.getElementById(`add-charge-${first}`)?.focus();
              return;
            }
            const added = await adding.run(chargeBody(form, props.animalId));
            if (added) {
              close();
              props.onAdded(added);
            }
          }}
        >
          <h2 id="add-charge-title">Add a charge</h2>
          <p class="small muted">A manual charge from the fee list; the practice-management system receives it like any charge.</p>
          {fees.error ? (
            <ErrorBanner error={fees.error} />
          ) : open && fees.loading ? (
            <Loading label="Loading the fee list…" />
          ) : (
            <Field label="Fee" id="add-charge-fee_code" error={error('fee_code')} hint={feeList.length ? undefined : 'The fee list has no active fee.'}>
              <select id="add-charge-fee_code" value={form.fee_code} onChange={(e) => set('fee_code', (e.target as HTMLSelectElement).value)}>
                <option value="">Choose a fee…</option>
                {feeList.map((f) => (
                  <option key={f.fee_code} value={f.fee_code}>
                    {feeLabel(f)}
                  </option>
                ))}
              </select>
            </Field>
          )}
          <Field label="Quantity" id="add-charge-quantity" error={error('quantity')} hint={preview ? `Amount: ${preview}` : undefined}>
            <input
              id="add-charge-quantity"
              inputMode="decimal"
              value={form.quantity}
              onInput={(e) => set('quantity', (e.target as HTMLInputElement).value)}
            />
          </Field>
          <Field label="Order (optional)" id="add-charge-order_id" error={error('order_id')}>
            <select id="add-charge-order_id" value={form.order_id} onChange={(e) => set('order_id', (e.target as HTMLSelectElement).value)}>
              <option value="">No order (charge the animal)</option>
              {props.orders.map((o) => (
                <option key={o.id} value={String(o.id)}>
                  {orderLabel(o)}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Note (optional)" id="add-charge-note" error={error('note')}>
            <textarea id="add-charge-note" rows={2} maxLength={2000} value={form.note} onInput={(e) => set('note', (e.target as HTMLTextAreaElement).value)} />
          </Field>
          <FormError error={adding.error} />
          <div class="row">
            <button type="submit" class="primary" disabled={adding.busy || !!fees.error}>
              {adding.busy ? 'Adding…' : 'Add charge'}
            </button>
            <button type="button" disabled={adding.busy} onClick={close}>
              Cancel
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
