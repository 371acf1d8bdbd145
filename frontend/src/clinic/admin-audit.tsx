/**
 * Administration: the audit log viewer (GET /audit, audit:read: filters by user, action, object and
 * date, paged) and system health (GET /health for the checks, GET /api/v1/system for versions,
 * ports and counts; system:manage).
 */
import { Fragment, type JSX } from 'preact';
import { useState } from 'preact/hooks';
import { Pager, when } from './admin-kit';
import { bytes, duration } from './admin-model';
import { ApiError, get } from './api';
import { Empty, ErrorBanner, Field, Loading, useAsync } from './ui';

interface AuditRow {
  id: number;
  time: string;
  actor: string;
  role: string;
  via: string;
  action: string;
  object_type: string;
  object_id: string;
  outcome: string;
  address: string;
  detail: Record<string, unknown> | null;
}

/** A local day (YYYY-MM-DD) -> its start as an ISO UTC time; `end` gives the next day's start. */
export function dayBoundary(day: string, end = false): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const d = new Date(`${day}T00:00:00`);
  if (end) d.setDate(d.getDate() + 1);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function AuditSection(): JSX.Element {
  const empty = { actor: '', action: '', object_type: '', object_id: '', since: '', until: '' };
  const [filters, setFilters] = useState(empty);
  const [applied, setApplied] = useState(empty);
  const [offset, setOffset] = useState(0);
  const limit = 50;
  const rows = useAsync(
    (signal) =>
      get<AuditRow[]>(
        '/audit',
        {
          actor: applied.actor.trim(),
          action: applied.action.trim(),
          object_type: applied.object_type.trim(),
          object_id: applied.object_id.trim(),
          since: dayBoundary(applied.since),
          until: dayBoundary(applied.until, true),
          limit,
          offset,
        },
        signal,
      ),
    [applied, offset],
  );
  const set = (key: keyof typeof empty) => (e: Event) => setFilters({ ...filters, [key]: (e.target as HTMLInputElement).value });
  const err = (f: string): string | undefined =>
    rows.error instanceof ApiError ? rows.error.fieldError(f) : undefined;
  return (
    <>
      <h1>Audit log</h1>
      <form
        class="row filters"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setApplied({ ...filters });
        }}
      >
        <Field label="User" id="audit-actor" hint="Username, exactly" error={err('actor')}>
          <input id="audit-actor" value={filters.actor} onInput={set('actor')} />
        </Field>
        <Field label="Action" id="audit-action" hint="e.g. user.created, or login* for a prefix" error={err('action')}>
          <input id="audit-action" value={filters.action} onInput={set('action')} list="audit-actions" />
        </Field>
        <Field label="Object type" id="audit-object-type" hint="user, study, order…" error={err('object_type')}>
          <input id="audit-object-type" value={filters.object_type} onInput={set('object_type')} />
        </Field>
        <Field label="Object" id="audit-object-id" hint="Username, UID, id…" error={err('object_id')}>
          <input id="audit-object-id" value={filters.object_id} onInput={set('object_id')} />
        </Field>
        <Field label="From" id="audit-since" error={err('since')}>
          <input id="audit-since" type="date" value={filters.since} onInput={set('since')} />
        </Field>
        <Field label="To" id="audit-until" error={err('until')}>
          <input id="audit-until" type="date" value={filters.until} onInput={set('until')} />
        </Field>
        <button type="submit" class="primary">
          Search
        </button>
        <button
          type="button"
          onClick={() => {
            setFilters(empty);
            setApplied(empty);
            setOffset(0);
          }}
        >
          Clear
        </button>
      </form>
      <datalist id="audit-actions">
        {['login*', 'user.*', 'user.created', 'token.*', 'study.*', 'order.*', 'reconciliation.*', 'partner.*', 'station.*', 'procedure.*'].map((a) => (
          <option key={a} value={a} />
        ))}
      </datalist>
      <ErrorBanner error={rows.error} />
      {!rows.data && rows.loading && <Loading />}
      {rows.data && rows.data.length === 0 && <Empty>No audit rows match.</Empty>}
      {rows.data && rows.data.length > 0 && (
        <table class="admin-table audit-table">
          <thead>
            <tr>
              <th>When</th>
              <th>User</th>
              <th>Action</th>
              <th>Object</th>
              <th>Outcome</th>
              <th>From</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {rows.data.map((r) => (
              <tr key={r.id} data-action={r.action}>
                <td class="nowrap">{when(r.time)}</td>
                <td>
                  {r.actor || '—'}
                  <div class="muted small">
                    {r.role}
                    {r.via && ` · ${r.via}`}
                  </div>
                </td>
                <td class="mono small">{r.action}</td>
                <td class="small">
                  {r.object_type} <span class="mono">{r.object_id}</span>
                </td>
                <td>
                  <span class={`badge ${r.outcome === 'success' || r.outcome === 'ok' ? 'ok' : r.outcome ? 'danger' : ''}`}>{r.outcome || '—'}</span>
                </td>
                <td class="mono small">{r.address}</td>
                <td class="small">
                  {r.detail && Object.keys(r.detail).length > 0 ? (
                    <details>
                      <summary>Detail</summary>
                      <pre class="detail">{JSON.stringify(r.detail, null, 2)}</pre>
                    </details>
                  ) : (
                    '—'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rows.data && <Pager offset={offset} limit={limit} count={rows.data.length} onOffset={setOffset} />}
    </>
  );
}

interface Health {
  status: string;
  version: string;
  checks: Record<string, { status: string; [key: string]: unknown }>;
}

interface SystemInfo {
  version: string;
  database: { dialect: string; status: string };
  storage: { backend: string; status: string; bytes_used?: number | null };
  counts: Record<string, number>;
  dicom: { ae_title: string; port: number | null; tls_port: number | null };
  http: { port: number | null };
  hl7: { port: number | null };
  uptime_seconds: number;
}

const COUNT_LABELS: Record<string, string> = {
  animals: 'Animals',
  owners: 'Owners',
  studies: 'Studies',
  series: 'Series',
  instances: 'Images (instances)',
  orders_open: 'Open orders',
  reconciliation_open: 'To reconcile',
  outbox_pending: 'Events waiting to be sent',
  deliveries_failed: 'Failed deliveries',
};

function statusBadge(status: string | undefined): JSX.Element {
  const ok = status === 'ok';
  return (
    <span class={`badge ${ok ? 'ok' : 'danger'}`} data-status={status}>
      {status ?? 'unknown'}
    </span>
  );
}

export function SystemSection(): JSX.Element {
  const health = useAsync(async (signal) => {
    // /health answers 503 with the same body when a check fails: read it either way
    const response = await fetch('/health', { signal, headers: { Accept: 'application/json' } });
    const body = (await response.json().catch(() => undefined)) as Health | undefined;
    if (!body) throw new Error(`/health answered ${response.status} ${response.statusText}`);
    return body;
  }, []);
  const system = useAsync((signal) => get<SystemInfo>('/system', undefined, signal), []);
  const [checkedAt, setCheckedAt] = useState(new Date());
  const refresh = (): void => {
    health.reload();
    system.reload();
    setCheckedAt(new Date());
  };
  const s = system.data;
  return (
    <>
      <div class="row">
        <h1>System health</h1>
        <button type="button" onClick={refresh} disabled={health.loading || system.loading}>
          {health.loading || system.loading ? 'Checking…' : 'Refresh'}
        </button>
        <span class="muted small">Checked {checkedAt.toLocaleTimeString()}</span>
      </div>
      <ErrorBanner error={health.error} />
      {health.data && (
        <section class="card health" aria-labelledby="health-title">
          <h2 id="health-title">
            Overall {statusBadge(health.data.status)} <span class="muted small">version {health.data.version}</span>
          </h2>
          <dl class="facts">
            {Object.entries(health.data.checks).map(([name, check]) => (
              <Fragment key={name}>
                <dt>{name[0].toUpperCase() + name.slice(1)}</dt>
                <dd data-check={name}>
                  {statusBadge(check.status)}{' '}
                  <span class="muted small">
                    {Object.entries(check)
                      .filter(([k]) => k !== 'status')
                      .map(([k, v]) => `${k} ${String(v)}`)
                      .join(' · ')}
                  </span>
                </dd>
              </Fragment>
            ))}
          </dl>
        </section>
      )}
      <ErrorBanner error={system.error} />
      {!s && system.loading && <Loading />}
      {s && (
        <div class="system-grid">
          <section class="card" aria-labelledby="sys-server">
            <h2 id="sys-server">Server</h2>
            <dl class="facts">
              <dt>Version</dt>
              <dd>{s.version}</dd>
              <dt>Up for</dt>
              <dd>{duration(s.uptime_seconds)}</dd>
              <dt>Database</dt>
              <dd>
                {s.database.dialect} {statusBadge(s.database.status)}
              </dd>
              <dt>Storage</dt>
              <dd>
                {s.storage.backend} {statusBadge(s.storage.status)}
                {s.storage.bytes_used !== undefined && s.storage.bytes_used !== null && <div>{bytes(s.storage.bytes_used)} used</div>}
              </dd>
            </dl>
          </section>
          <section class="card" aria-labelledby="sys-ports">
            <h2 id="sys-ports">Listeners</h2>
            <dl class="facts">
              <dt>DICOM</dt>
              <dd>
                <span class="mono">{s.dicom.ae_title}</span> on port {s.dicom.port ?? 'off'}
                {s.dicom.tls_port ? `, TLS ${s.dicom.tls_port}` : ''}
              </dd>
              <dt>HTTP</dt>
              <dd>port {s.http.port ?? 'off'}</dd>
              <dt>HL7 (MLLP)</dt>
              <dd>{s.hl7.port ? `port ${s.hl7.port}` : 'off'}</dd>
            </dl>
          </section>
          <section class="card" aria-labelledby="sys-counts">
            <h2 id="sys-counts">Contents and queues</h2>
            <dl class="facts">
              {Object.entries(s.counts).map(([key, value]) => (
                <Fragment key={key}>
                  <dt>{COUNT_LABELS[key] ?? key}</dt>
                  <dd data-count={key} class={(key === 'deliveries_failed' || key === 'reconciliation_open') && value > 0 ? 'warn-text' : ''}>
                    {value.toLocaleString()}
                  </dd>
                </Fragment>
              ))}
            </dl>
          </section>
        </div>
      )}
    </>
  );
}
