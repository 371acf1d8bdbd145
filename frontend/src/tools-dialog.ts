/**
 * A small modal question in the page (never window.prompt): the size of a calibration marker, the
 * label of an arrow. A native <dialog> (focus moves into it, Escape cancels, the label names the
 * field for screen readers). Resolves with the text entered, or null when cancelled.
 */

export interface AskOptions {
  title: string;
  label: string;
  type?: 'text' | 'number';
  value?: string;
  /** Checked before the dialog closes; a message keeps it open and is shown under the field. */
  validate?: (value: string) => string | undefined;
  min?: string;
  step?: string;
}

let busy: Promise<string | null> | undefined;

export function ask(options: AskOptions): Promise<string | null> {
  const dialog = document.querySelector<HTMLDialogElement>('#ask')!;
  const form = dialog.querySelector<HTMLFormElement>('form')!;
  const input = dialog.querySelector<HTMLInputElement>('#ask-input')!;
  const error = dialog.querySelector<HTMLElement>('#ask-error')!;
  dialog.querySelector('#ask-title')!.textContent = options.title;
  dialog.querySelector('#ask-label')!.textContent = options.label;
  input.type = options.type ?? 'text';
  input.value = options.value ?? '';
  input.min = options.min ?? '';
  input.step = options.step ?? 'any';
  error.textContent = '';
  input.removeAttribute('aria-invalid');
  const previous = busy ?? Promise.resolve(null);
  busy = previous.then(
    () =>
      new Promise<string | null>((resolve) => {
        const finish = (value: string | null): void => {
          form.removeEventListener('submit', onSubmit);
          dialog.removeEventListener('cancel', onCancel);
          cancel.removeEventListener('click', onCancelClick);
          if (dialog.open) dialog.close();
          resolve(value);
        };
        const onSubmit = (e: Event): void => {
          e.preventDefault();
          const value = input.value.trim();
          const problem = options.validate?.(value);
          if (problem) {
            error.textContent = problem;
            input.setAttribute('aria-invalid', 'true');
            input.focus();
            return;
          }
          finish(value);
        };
        const onCancel = (e: Event): void => {
          e.preventDefault();
          finish(null);
        };
        const onCancelClick = (): void => finish(null);
        const cancel = dialog.querySelector<HTMLButtonElement>('#ask-cancel')!;
        form.addEventListener('submit', onSubmit);
        dialog.addEventListener('cancel', onCancel);
        cancel.addEventListener('click', onCancelClick);
        dialog.showModal();
        input.focus();
        input.select();
      }),
  );
  return busy;
}

/** The known size of a marker in mm: a number > 0 (at most 1000 mm). */
export function validateMillimetres(value: string): string | undefined {
  const mm = Number(value);
  if (!value || !Number.isFinite(mm) || mm <= 0) return 'Enter the marker size in millimetres (a number above 0).';
  if (mm > 1000) return 'A marker larger than 1000 mm is not plausible; check the size.';
  return undefined;
}
