/** Placeholder: this screen is being built. */
import type { JSX } from 'preact';
import type { ScreenProps } from '../screen';

export function SearchScreen(_props: ScreenProps): JSX.Element {
  return <section><h1>SearchScreen</h1><p class="empty">Not built yet.</p></section>;
}
