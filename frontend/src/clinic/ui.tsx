/**
 * Small shared pieces of the clinic app: loading, empty and error states, form fields with their
 * validation message, toasts, and a data hook. Screens use these so every screen behaves the same
 * (nothing fails silently: an error is shown where the action was taken, and in a toast).
 */
import { cloneElement, isValidElement, toChildArray, type ComponentChildren, type JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export function Loading({ label = 'Loading…' }: { label?: string }): JSX.Element {
  return (
    <p class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }): JSX.Element {
  return <p class="empty">{children}</p>;
}

export function ErrorBanner({ error }: { error: unknown }): JSX.Element | null {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <p class="error" role="alert">
      {message}
    </p>
  );
}

/**
 * A labelled form field with its hint or validation message. The control whose id is `id` gets
 * `aria-describedby` (the message or hint) and `aria-invalid`, so a screen reader reads the error
 * with the field.
 */
export function Field(props: {
  label: string;
  id: string;
  error?: string;
  hint?: string;
  children: ComponentChildren;
}): JSX.Element {
  const describedBy = props.error ? `${props.id}-error` : props.hint ? `${props.id}-hint` : undefined;
  const children = toChildArray(props.children).map((child) =>
    isValidElement(child) && (child.props as { id?: string }).id === props.id
      ? cloneElement(child, { 'aria-describedby': describedBy, 'aria-invalid': props.error ? true : undefined })
      : child,
  );
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {children}
      {props.hint && !props.error && (
        <small id={`${props.id}-hint`} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small id={`${props.id}-error`} class="field-error" role="alert">
          {props.error}
        </small>
      )}
    </div>
  );
}

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Load data when the dependencies change; stale answers are dropped (last request wins). */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(undefined);
    load(controller.signal)
      .then((value) => {
        if (!controller.signal.aborted) setData(value);
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted && !(err instanceof DOMException && err.name === 'AbortError')) setError(err);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

// ------------------------------------------------------------------ toasts

type Toast = { id: number; kind: 'ok' | 'error'; text: string };
let toastListener: ((t: Toast) => void) | undefined;
let toastId = 0;

export function toast(text: string, kind: 'ok' | 'error' = 'ok'): void {
  toastListener?.({ id: ++toastId, kind, text });
}

export function toastError(err: unknown): void {
  toast(err instanceof Error ? err.message : String(err), 'error');
}

export function Toasts(): JSX.Element {
  const [items, setItems] = useState<Toast[]>([]);
  useEffect(() => {
    toastListener = (t) => {
      setItems((list) => [...list, t]);
      setTimeout(() => setItems((list) => list.filter((x) => x.id !== t.id)), t.kind === 'error' ? 8000 : 4000);
    };
    return () => {
      toastListener = undefined;
    };
  }, []);
  return (
    <div class="toasts" aria-live="polite">
      {items.map((t) => (
        <div key={t.id} class={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/**
 * Run an action from a button or form: `busy` while it runs, the error kept for the form (field
 * errors of a 422 included) and shown in a toast; success toasts `done` if given.
 */
export function useAction<A extends unknown[], R>(
  action: (...args: A) => Promise<R>,
  done?: string | ((result: R) => string),
): { run: (...args: A) => Promise<R | undefined>; busy: boolean; error: ApiError | Error | undefined } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | undefined>(undefined);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = async (...args: A): Promise<R | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      const result = await action(...args);
      if (done) toast(typeof done === 'string' ? done : done(result));
      return result;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (mounted.current) setError(e);
      toastError(e);
      return undefined;
    } finally {
      if (mounted.current) setBusy(false);
    }
  };
  return { run, busy, error };
}

export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError ? error.fieldError(field) : undefined;
}

// ------------------------------------------------------------------ formatting

export function ageOf(birthDate: string | null | undefined, on: Date = new Date()): string {
  if (!birthDate) return 'age unknown';
  const born = new Date(birthDate);
  if (Number.isNaN(born.getTime())) return 'age unknown';
  let months = (on.getFullYear() - born.getFullYear()) * 12 + (on.getMonth() - born.getMonth());
  if (on.getDate() < born.getDate()) months -= 1;
  if (months < 0) return 'age unknown';
  if (months < 24) return `${months} mo`;
  return `${Math.floor(months / 12)} y`;
}

/** 20261129 or 2026-11-29 -> 2026-11-29 */
export function isoDate(value: string | null | undefined): string {
  if (!value) return '';
  return /^\d{8}$/.test(value) ? `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}` : value.slice(0, 10);
}

export function today(): string {
  const d = new Date();
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
