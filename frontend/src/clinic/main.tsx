/**
 * The VetPACS clinic app (docs/clinic.md): one place for the front desk, technicians and vets.
 * Served under /app/ behind the same sign-in as the viewer; each screen lives in screens/.
 */
import './clinic.css';
import type { JSX } from 'preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, post, type Me } from './api';
import { Link, match, navigate, useLocation } from './router';
import { can, type ScreenProps } from './screen';
import { AdminScreen } from './screens/admin';
import { BillingScreen } from './screens/billing';
import { BoardScreen } from './screens/board';
import { ChartScreen } from './screens/chart';
import { OrderScreen } from './screens/order';
import { ReconciliationScreen } from './screens/reconciliation';
import { RegisterScreen } from './screens/register';
import { ReportScreen } from './screens/report';
import { ScheduleScreen } from './screens/schedule';
import { SearchScreen } from './screens/search';
import { ErrorBanner, Loading, Toasts } from './ui';

interface Route {
  pattern: string;
  title: string;
  screen: (props: ScreenProps) => JSX.Element;
  nav?: string; // label in the navigation bar
  permission?: string; // hidden from the navigation without it (the API enforces it anyway)
}

export const ROUTES: Route[] = [
  { pattern: '/', title: 'Search', screen: SearchScreen, nav: 'Search', permission: 'patients:read' },
  { pattern: '/animals/new', title: 'New patient', screen: RegisterScreen, nav: 'New patient', permission: 'patients:write' },
  { pattern: '/animals/:id', title: 'Patient chart', screen: ChartScreen },
  { pattern: '/studies/:uid/report', title: 'Report', screen: ReportScreen, permission: 'reports:read' },
  { pattern: '/orders/new', title: 'New order', screen: OrderScreen, nav: 'New order', permission: 'orders:write' },
  { pattern: '/schedule', title: 'Schedule', screen: ScheduleScreen, nav: 'Schedule', permission: 'orders:read' },
  { pattern: '/board', title: "Technician's board", screen: BoardScreen, nav: 'Board', permission: 'orders:read' },
  {
    pattern: '/reconciliation',
    title: 'Reconciliation',
    screen: ReconciliationScreen,
    nav: 'Reconciliation',
    permission: 'images:read',
  },
  { pattern: '/billing', title: 'Billing', screen: BillingScreen, nav: 'Billing', permission: 'billing:read' },
  { pattern: '/billing/:part', title: 'Billing', screen: BillingScreen },
  { pattern: '/admin', title: 'Administration', screen: AdminScreen, nav: 'Admin', permission: 'system:manage' },
  { pattern: '/admin/:section', title: 'Administration', screen: AdminScreen },
];

function NotFound(): JSX.Element {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        <Link to="/">Back to search</Link>
      </p>
    </section>
  );
}

function App(): JSX.Element {
  const loc = useLocation();
  const [me, setMe] = useState<Me | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    get<Me>('/auth/me').then(setMe, setError);
  }, []);

  let found: { route: Route; params: Record<string, string> } | undefined;
  for (const route of ROUTES) {
    const params = match(route.pattern, loc.path);
    if (params) {
      found = { route, params };
      break;
    }
  }
  useEffect(() => {
    document.title = `${found?.route.title ?? 'Not found'} · VetPACS`;
  }, [found?.route.title]);

  if (error) return <ErrorBanner error={error} />;
  if (!me) return <Loading />;
  const Screen = found?.route.screen;
  const section = '/' + (loc.path.split('/')[1] ?? '');
  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="topbar">
        <Link to="/" class="brand">
          VetPACS
        </Link>
        <nav aria-label="Main">
          {ROUTES.filter((r) => r.nav && (!r.permission || can(me, r.permission))).map((r) => {
            const here = r.pattern === '/' ? loc.path === '/' : section === r.pattern || loc.path.startsWith(r.pattern + '/');
            return (
              <Link key={r.pattern} to={r.pattern} aria-current={here ? 'page' : undefined}>
                {r.nav}
              </Link>
            );
          })}
        </nav>
        <span class="me">
          {me.display_name || me.username} <small>({me.role.replace('_', ' ')})</small>
          <button
            type="button"
            class="link"
            onClick={() => {
              post('/auth/logout').finally(() => location.assign('/viewer/login'));
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <main id="content" tabIndex={-1}>
        {Screen ? <Screen key={loc.path} params={found!.params} location={loc} me={me} /> : <NotFound />}
      </main>
      <Toasts />
    </>
  );
}

render(<App />, document.getElementById('app')!);
export { navigate };
