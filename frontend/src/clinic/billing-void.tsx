/**
 * "Void" on a posted charge (the chart's charge cards, billing:write): a modal dialog asks the
 * reason (required: it goes to the PMS with the credit), then POST /charges/{id}/void. The native
 * <dialog> keeps focus inside, Escape closes it, and focus returns to the button.
 */
import type { JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { FormError } from './admin-kit';
import { fieldMessage } from './admin-model';
import { post } from './api';
import { type ChargeRead, formatMoney } from './billing-model';
import { Field, useAction } from './ui';

export function VoidChargeButton(props: {
  charge: { id: number; fee_code: string; amount: string; currency: string };
  onVoided: (charge: ChargeRead) => void;
}): JSX.Element {
  const c = props.charge;
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [missing, setMissing] = useState<string | undefined>(undefined);
  const voiding = useAction(
    (why: string) => post<ChargeRead>(`/charges/${c.id}/void`, { reason: why }),
    `Charge ${c.fee_code} voided`,
  );
  const id = `void-${c.id}`;
  return (
    <>
      <button
        type="button"
        class="small danger"
        aria-haspopup="dialog"
        onClick={() => {
          setMissing(undefined);
          dialog.current?.showModal();
        }}
      >
        Void
      </button>
      <dialog ref={dialog} class="void-dialog" aria-labelledby={`${id}-title`}>
        <form
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            const why = reason.trim();
            if (!why) {
              setMissing('A reason is required: it goes to the practice-management system with the credit.');
              document.getElementById(`${id}-reason`)?.focus();
              return;
            }
            setMissing(undefined);
            const voided = await voiding.run(why);
            if (voided) {
              dialog.current?.close();
              setReason('');
              props.onVoided(voided);
            }
          }}
        >
          <h2 id={`${id}-title`}>
            Void charge <span class="mono">{c.fee_code}</span> ({formatMoney(c.amount, c.currency)})?
          </h2>
          <p class="small muted">The charge stays on record as voided; the PMS gets a credit.</p>
          <Field label="Reason" id={`${id}-reason`} error={missing || fieldMessage(voiding.error, 'reason')}>
            <textarea
              id={`${id}-reason`}
              rows={3}
              maxLength={1000}
              value={reason}
              onInput={(e) => {
                setReason((e.target as HTMLTextAreaElement).value);
                setMissing(undefined);
              }}
            />
          </Field>
          <FormError error={voiding.error} />
          <div class="row">
            <button type="submit" class="danger" disabled={voiding.busy}>
              {voiding.busy ? 'Voiding…' : 'Void charge'}
            </button>
            <button type="button" disabled={voiding.busy} onClick={() => dialog.current?.close()}>
              Keep the charge
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
