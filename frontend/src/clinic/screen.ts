import type { Me } from './api';
import type { Location } from './router';

/** What every screen is given: the route's parameters, the location and the signed-in user. */
export interface ScreenProps {
  params: Record<string, string>;
  location: Location;
  me: Me;
}

export function can(me: Me, permission: string): boolean {
  return me.permissions.includes(permission);
}
