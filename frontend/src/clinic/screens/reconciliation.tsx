/** Placeholder: this screen is being built. */
import type { JSX } from 'preact';
import type { ScreenProps } from '../screen';

export function ReconciliationScreen(_props: ScreenProps): JSX.Element {
  return <section><h1>ReconciliationScreen</h1><p class="empty">Not built yet.</p></section>;
}
