/**
 * Pieces shared by the board, reconciliation and administration screens: an inline confirmation
 * for destructive actions (no browser dialog: large targets on a tablet, focus kept in place), a
 * secret shown once with a copy button, and a pager. (Candidates for ui.tsx.)
 */
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { ErrorBanner, toast } from './ui';

/**
 * A button that asks first: the first click shows "question [confirm] [keep]" in its place; the
 * action runs only on confirm. `children` lets the confirmation carry a field (a reject reason).
 */
export function ConfirmButton(props: {
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => Promise<unknown> | void;
  busy?: boolean;
  disabled?: boolean;
  class?: string;
  children?: ComponentChildren;
}): JSX.Element {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking && !props.children) confirmRef.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" class={props.class} disabled={props.disabled || props.busy} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={props.question}>
      <span class="confirm-question">{props.question}</span>
      {props.children}
      <button
        type="button"
        class="danger"
        ref={confirmRef}
        disabled={props.busy}
        onClick={async () => {
          await props.onConfirm();
          setAsking(false);
        }}
      >
        {props.busy ? 'Working…' : props.confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)} disabled={props.busy}>
        Keep
      </button>
    </span>
  );
}

/** A secret (password, token, signing secret) shown this once, with a copy button. */
export function SecretOnce(props: { label: string; value: string; onDone: () => void }): JSX.Element {
  const [copied, setCopied] = useState(false);
  return (
    <div class="secret card" role="status">
      <p>
        <strong>{props.label}</strong> — shown this once; copy it now.
      </p>
      <code class="secret-value" data-testid="secret">
        {props.value}
      </code>
      <div class="row">
        <button
          type="button"
          class="primary"
          onClick={() => {
            const done = (): void => {
              setCopied(true);
              toast('Copied');
            };
            if (navigator.clipboard) {
              navigator.clipboard.writeText(props.value).then(done, () => toast('Copy failed: select the text and copy it', 'error'));
            } else {
              toast('Copy is not available here: select the text and copy it', 'error');
            }
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" onClick={props.onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

/** Previous / next for offset paging, with "rows a–b of total" when the total is known. */
export function Pager(props: {
  offset: number;
  limit: number;
  count: number; // rows on this page
  total?: number;
  onOffset: (offset: number) => void;
}): JSX.Element | null {
  const { offset, limit, count, total } = props;
  const hasNext = total !== undefined ? offset + count < total : count === limit;
  if (offset === 0 && !hasNext) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={offset === 0} onClick={() => props.onOffset(Math.max(0, offset - limit))}>
        ← Previous
      </button>
      <span>
        {count ? `${offset + 1}–${offset + count}` : 'none'}
        {total !== undefined ? ` of ${total}` : ''}
      </span>
      <button type="button" disabled={!hasNext} onClick={() => props.onOffset(offset + limit)}>
        Next →
      </button>
    </nav>
  );
}

/** A date-time from the API (naive UTC for audit-like times) in the browser's local time. */
export function when(value: string | null | undefined, utc = true): string {
  if (!value) return '';
  const text = utc && !/[zZ]|[+-]\d{2}:?\d{2}$/.test(value) ? `${value}Z` : value;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return value;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * The error of a form's submission, under its button: a 422 with field errors says which fields to
 * correct (their messages are beside them); anything else is the server's message.
 */
export function FormError({ error }: { error: unknown }): JSX.Element | null {
  if (!error) return null;
  if (error instanceof ApiError && error.status === 422 && error.errors.length) {
    const fields = [...new Set(error.errors.map((e) => String(e.loc[e.loc.length - 1] === 0 ? e.loc[e.loc.length - 2] : e.loc[e.loc.length - 1]).replace(/_/g, ' ')))];
    return (
      <p class="error" role="alert">
        Please correct: {fields.join(', ')}.
      </p>
    );
  }
  return <ErrorBanner error={error} />;
}
