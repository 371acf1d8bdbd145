/**
 * Administration: DICOM destinations (/modalities: where C-MOVE sends and storage commitment
 * reports go), integration partners (webhooks and HL7 over MLLP: add, edit, pause, remove, rotate
 * the signing secret, their deliveries with retry) and the HL7 message log with the raw messages.
 * Every route needs system:manage.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ConfirmButton, Pager, SecretOnce, when, FormError } from './admin-kit';
import { conflictMessage, fieldMessage } from './admin-model';
import { del, get, patch, post } from './api';
import { Empty, ErrorBanner, Field, Loading, useAction, useAsync } from './ui';

// ------------------------------------------------------------------ DICOM destinations

interface Node {
  name: string;
  ae_title: string;
  host: string;
  port: number;
  description?: string;
}

export function DestinationsSection(): JSX.Element {
  const nodes = useAsync((signal) => get<Node[]>('/modalities', undefined, signal), []);
  const empty = { name: '', ae_title: '', host: '', port: '104', description: '' };
  const [form, setForm] = useState(empty);
  const add = useAction(
    () =>
      post<Node>('/modalities', {
        name: form.name.trim(),
        ae_title: form.ae_title.trim(),
        host: form.host.trim(),
        port: form.port === '' ? null : Number(form.port),
        ...(form.description.trim() ? { description: form.description.trim() } : {}),
      }),
    (n) => `Destination ${n.name} added`,
  );
  const remove = useAction((name: string) => del(`/modalities/${encodeURIComponent(name)}`), 'Destination removed');
  const set = (key: keyof typeof empty) => (e: Event) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value });
  const err = (f: string): string | undefined => fieldMessage(add.error, f);
  return (
    <>
      <h1>DICOM destinations</h1>
      <p class="muted">
        Remote DICOM nodes (workstations, other archives, modalities) this server may send studies to with C-MOVE, and
        storage commitment report targets.
      </p>
      <form
        class="card admin-form"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          if (await add.run()) {
            setForm(empty);
            nodes.reload();
          }
        }}
      >
        <h2>Add a destination</h2>
        <div class="row">
          <Field label="Name" id="dest-name" error={err('name') || conflictMessage(add.error)} hint="e.g. reading-room">
            <input id="dest-name" value={form.name} onInput={set('name')} required />
          </Field>
          <Field label="AE title" id="dest-ae" error={err('ae_title')}>
            <input id="dest-ae" value={form.ae_title} onInput={set('ae_title')} required maxLength={16} class="mono" />
          </Field>
          <Field label="Host" id="dest-host" error={err('host')} hint="Name or IP address">
            <input id="dest-host" value={form.host} onInput={set('host')} required />
          </Field>
          <Field label="Port" id="dest-port" error={err('port')}>
            <input id="dest-port" type="number" min={1} max={65535} value={form.port} onInput={set('port')} required />
          </Field>
          <Field label="Description" id="dest-description" error={err('description')}>
            <input id="dest-description" value={form.description} onInput={set('description')} />
          </Field>
        </div>
        <button type="submit" class="primary" disabled={add.busy}>
          {add.busy ? 'Adding…' : 'Add destination'}
        </button>
        <FormError error={add.error} />
      </form>
      <ErrorBanner error={nodes.error} />
      <ErrorBanner error={remove.error} />
      {!nodes.data && nodes.loading && <Loading />}
      {nodes.data && nodes.data.length === 0 && <Empty>No DICOM destinations yet.</Empty>}
      {nodes.data && nodes.data.length > 0 && (
        <table class="admin-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>AE title</th>
              <th>Host</th>
              <th>Port</th>
              <th>Description</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {nodes.data.map((n) => (
              <tr key={n.name} data-destination={n.name}>
                <td>
                  <strong>{n.name}</strong>
                </td>
                <td class="mono">{n.ae_title}</td>
                <td class="mono">{n.host}</td>
                <td>{n.port}</td>
                <td>{n.description || '—'}</td>
                <td>
                  <ConfirmButton
                    label="Remove"
                    question={`Remove ${n.name}?`}
                    confirmLabel="Remove"
                    busy={remove.busy}
                    onConfirm={async () => {
                      await remove.run(n.name);
                      nodes.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

// ------------------------------------------------------------------ partners

interface Partner {
  id: number;
  name: string;
  kind: 'webhook' | 'hl7';
  url: string;
  host: string;
  port: number;
  event_types: string[];
  receiving_application: string;
  receiving_facility: string;
  active: boolean;
  has_secret: boolean;
  created_at: string;
  pending: number;
  dead: number;
}

interface Delivery {
  id: number;
  partner_id: number;
  partner_name: string;
  event_id: number;
  event_type: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  next_attempt_at: string;
  last_error: string;
  response_status: number | null;
  delivered_at: string | null;
  created_at: string;
}

interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

function PartnerForm(props: { partner?: Partner; onSaved: (secret?: string) => void; onCancel?: () => void }): JSX.Element {
  const p = props.partner;
  const prefix = p ? `partner-${p.id}` : 'partner-new';
  const [form, setForm] = useState({
    name: p?.name ?? '',
    kind: p?.kind ?? 'webhook',
    url: p?.url ?? '',
    host: p?.host ?? '',
    port: p ? String(p.port || '') : '',
    event_types: (p?.event_types ?? []).join(', '),
    receiving_application: p?.receiving_application ?? '',
    receiving_facility: p?.receiving_facility ?? '',
    active: p?.active ?? true,
  });
  const save = useAction(
    (body: Record<string, unknown>) =>
      p ? patch<Partner>(`/partners/${p.id}`, body) : post<Partner & { secret: string | null }>('/partners', body),
    (r) => `Partner ${r.name} ${p ? 'saved' : 'added'}`,
  );
  const set = (key: keyof typeof form) => (e: Event) => {
    const el = e.target as HTMLInputElement;
    setForm({ ...form, [key]: el.type === 'checkbox' ? el.checked : el.value });
  };
  const err = (f: string): string | undefined => fieldMessage(save.error, f);
  const webhook = form.kind === 'webhook';
  return (
    <form
      class="card admin-form"
      noValidate
      aria-label={p ? `Edit ${p.name}` : 'Add a partner'}
      onSubmit={async (e) => {
        e.preventDefault();
        const body: Record<string, unknown> = {
          name: form.name.trim(),
          event_types: form.event_types
            .split(',')
            .map((v) => v.trim())
            .filter(Boolean),
          active: form.active,
        };
        if (!p) body.kind = form.kind;
        if (webhook) body.url = form.url.trim();
        else {
          body.host = form.host.trim();
          body.port = form.port === '' ? 0 : Number(form.port);
          body.receiving_application = form.receiving_application.trim();
          body.receiving_facility = form.receiving_facility.trim();
        }
        const saved = await save.run(body);
        if (saved) props.onSaved((saved as { secret?: string | null }).secret ?? undefined);
      }}
    >
      {!p && <h2>Add a partner</h2>}
      <div class="row">
        <Field label="Name" id={`${prefix}-name`} error={err('name') || conflictMessage(save.error)}>
          <input id={`${prefix}-name`} value={form.name} onInput={set('name')} required />
        </Field>
        {!p && (
          <Field label="Kind" id={`${prefix}-kind`} error={err('kind')}>
            <select id={`${prefix}-kind`} value={form.kind} onChange={set('kind')}>
              <option value="webhook">Webhook (signed JSON over HTTPS)</option>
              <option value="hl7">HL7 v2 over MLLP</option>
            </select>
          </Field>
        )}
        {webhook ? (
          <Field label="URL" id={`${prefix}-url`} error={err('url')} hint="https://… where events are POSTed">
            <input id={`${prefix}-url`} type="url" value={form.url} onInput={set('url')} required />
          </Field>
        ) : (
          <>
            <Field label="Host" id={`${prefix}-host`} error={err('host')}>
              <input id={`${prefix}-host`} value={form.host} onInput={set('host')} required />
            </Field>
            <Field label="Port" id={`${prefix}-port`} error={err('port')}>
              <input id={`${prefix}-port`} type="number" min={1} max={65535} value={form.port} onInput={set('port')} required />
            </Field>
            <Field label="Receiving application (MSH-5)" id={`${prefix}-app`} error={err('receiving_application')}>
              <input id={`${prefix}-app`} value={form.receiving_application} onInput={set('receiving_application')} />
            </Field>
            <Field label="Receiving facility (MSH-6)" id={`${prefix}-facility`} error={err('receiving_facility')}>
              <input id={`${prefix}-facility`} value={form.receiving_facility} onInput={set('receiving_facility')} />
            </Field>
          </>
        )}
        <Field label="Event types" id={`${prefix}-events`} error={err('event_types')} hint="Comma-separated; empty: every event">
          <input id={`${prefix}-events`} value={form.event_types} onInput={set('event_types')} placeholder="study.received, order.status_changed" />
        </Field>
      </div>
      <label class="check">
        <input type="checkbox" checked={form.active} onChange={set('active')} /> Active (paused partners keep their deliveries waiting)
      </label>
      <div class="row">
        <button type="submit" class="primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : p ? 'Save' : 'Add partner'}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
      <FormError error={save.error} />
    </form>
  );
}

const STATUS_TONE: Record<string, string> = { delivered: 'ok', pending: 'warn', dead: 'danger' };

function Deliveries(props: { partnerId?: number; title: string }): JSX.Element {
  const [status, setStatus] = useState('');
  const [offset, setOffset] = useState(0);
  const limit = 20;
  const path = props.partnerId ? `/partners/${props.partnerId}/deliveries` : '/deliveries';
  const page = useAsync((signal) => get<Page<Delivery>>(path, { status, limit, offset }, signal), [path, status, offset]);
  const retry = useAction((id: number) => post<Delivery>(`/deliveries/${id}/retry`), 'Delivery queued again');
  const id = `deliveries-${props.partnerId ?? 'all'}`;
  return (
    <section aria-labelledby={`${id}-title`} class="deliveries">
      <h3 id={`${id}-title`}>{props.title}</h3>
      <div class="row">
        <Field label="Status" id={`${id}-status`}>
          <select
            id={`${id}-status`}
            value={status}
            onChange={(e) => {
              setStatus((e.target as HTMLSelectElement).value);
              setOffset(0);
            }}
          >
            <option value="">All</option>
            <option value="pending">Pending</option>
            <option value="delivered">Delivered</option>
            <option value="dead">Failed (dead letter)</option>
          </select>
        </Field>
      </div>
      <ErrorBanner error={page.error || retry.error} />
      {!page.data && page.loading && <Loading />}
      {page.data && page.data.items.length === 0 && <Empty>No deliveries.</Empty>}
      {page.data && page.data.items.length > 0 && (
        <table class="admin-table">
          <thead>
            <tr>
              <th>Event</th>
              {!props.partnerId && <th>Partner</th>}
              <th>Status</th>
              <th>Attempts</th>
              <th>Last answer</th>
              <th>When</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {page.data.items.map((d) => (
              <tr key={d.id}>
                <td>
                  {d.event_type} <span class="muted small">#{d.event_id}</span>
                </td>
                {!props.partnerId && <td>{d.partner_name}</td>}
                <td>
                  <span class={`badge ${STATUS_TONE[d.status] ?? ''}`}>{d.status}</span>
                </td>
                <td>{d.attempts}</td>
                <td>
                  {d.response_status ?? ''} {d.last_error && <span class="field-error small">{d.last_error}</span>}
                </td>
                <td>
                  {d.delivered_at ? `delivered ${when(d.delivered_at)}` : d.status === 'pending' ? `next try ${when(d.next_attempt_at)}` : when(d.created_at)}
                </td>
                <td>
                  {d.status === 'dead' && (
                    <button
                      type="button"
                      disabled={retry.busy}
                      onClick={async () => {
                        if (await retry.run(d.id)) page.reload();
                      }}
                    >
                      Retry
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page.data && <Pager offset={offset} limit={limit} count={page.data.items.length} total={page.data.total} onOffset={setOffset} />}
    </section>
  );
}

function PartnerRow({ partner, onChanged }: { partner: Partner; onChanged: () => void }): JSX.Element {
  const [mode, setMode] = useState<'' | 'edit' | 'deliveries'>('');
  const [secret, setSecret] = useState<string | undefined>(undefined);
  const rotate = useAction(() => post<{ secret: string }>(`/partners/${partner.id}/secret`), 'New signing secret');
  const toggle = useAction(
    () => patch<Partner>(`/partners/${partner.id}`, { active: !partner.active }),
    partner.active ? `${partner.name} paused` : `${partner.name} resumed`,
  );
  const remove = useAction(() => del(`/partners/${partner.id}`).then(() => true), `${partner.name} removed`);
  return (
    <>
      <tr data-partner={partner.name}>
        <td>
          <strong>{partner.name}</strong>
        </td>
        <td>{partner.kind === 'webhook' ? 'Webhook' : 'HL7 (MLLP)'}</td>
        <td class="mono small">{partner.kind === 'webhook' ? partner.url : `${partner.host}:${partner.port}`}</td>
        <td class="small">{partner.event_types.length ? partner.event_types.join(', ') : 'every event'}</td>
        <td>{partner.active ? <span class="badge ok">active</span> : <span class="badge warn">paused</span>}</td>
        <td>
          {partner.pending} pending
          {partner.dead > 0 && <div class="badge danger">{partner.dead} failed</div>}
        </td>
        <td class="actions">
          <button type="button" aria-expanded={mode === 'edit'} onClick={() => setMode(mode === 'edit' ? '' : 'edit')}>
            Edit
          </button>
          <button type="button" aria-expanded={mode === 'deliveries'} onClick={() => setMode(mode === 'deliveries' ? '' : 'deliveries')}>
            Deliveries
          </button>
          <button
            type="button"
            disabled={toggle.busy}
            onClick={async () => {
              if (await toggle.run()) onChanged();
            }}
          >
            {partner.active ? 'Pause' : 'Resume'}
          </button>
          {partner.kind === 'webhook' && (
            <ConfirmButton
              label="Rotate secret"
              question="The old secret stops verifying at once. Rotate?"
              confirmLabel="Rotate"
              busy={rotate.busy}
              onConfirm={async () => {
                const r = await rotate.run();
                if (r) setSecret(r.secret);
              }}
            />
          )}
          <ConfirmButton
            label="Remove"
            question={`Remove ${partner.name} and its deliveries?`}
            confirmLabel="Remove"
            busy={remove.busy}
            onConfirm={async () => {
              if (await remove.run()) onChanged();
            }}
          />
        </td>
      </tr>
      {(mode || secret || rotate.error || toggle.error || remove.error) && (
        <tr>
          <td colSpan={7}>
            <ErrorBanner error={rotate.error || toggle.error || remove.error} />
            {secret && <SecretOnce label={`Signing secret of ${partner.name}`} value={secret} onDone={() => setSecret(undefined)} />}
            {mode === 'edit' && (
              <PartnerForm
                partner={partner}
                onSaved={() => {
                  setMode('');
                  onChanged();
                }}
                onCancel={() => setMode('')}
              />
            )}
            {mode === 'deliveries' && <Deliveries partnerId={partner.id} title={`Deliveries to ${partner.name}`} />}
          </td>
        </tr>
      )}
    </>
  );
}

export function IntegrationsSection(): JSX.Element {
  const partners = useAsync((signal) => get<Partner[]>('/partners', undefined, signal), []);
  const [secret, setSecret] = useState<string | undefined>(undefined);
  const [formKey, setFormKey] = useState(0);
  return (
    <>
      <h1>Integration partners</h1>
      <PartnerForm
        key={formKey}
        onSaved={(s) => {
          if (s) setSecret(s);
          setFormKey(formKey + 1);
          partners.reload();
        }}
      />
      {secret && <SecretOnce label="Signing secret of the new webhook" value={secret} onDone={() => setSecret(undefined)} />}
      <ErrorBanner error={partners.error} />
      {!partners.data && partners.loading && <Loading />}
      {partners.data && partners.data.length === 0 && <Empty>No partners yet.</Empty>}
      {partners.data && partners.data.length > 0 && (
        <table class="admin-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Endpoint</th>
              <th>Events</th>
              <th>Status</th>
              <th>Queue</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {partners.data.map((p) => (
              <PartnerRow key={p.id} partner={p} onChanged={partners.reload} />
            ))}
          </tbody>
        </table>
      )}
      <Deliveries title="All deliveries" />
    </>
  );
}

// ------------------------------------------------------------------ HL7 message log

interface Hl7Message {
  id: number;
  direction: 'in' | 'out';
  partner_id: number | null;
  sending_application: string;
  sending_facility: string;
  control_id: string;
  message_type: string;
  version: string;
  status: string;
  ack_code: string;
  error: string;
  patient_id: string;
  accession_number: string;
  remote_address: string;
  created_at: string;
}

interface Hl7Detail extends Hl7Message {
  raw: string;
  ack_raw: string;
}

/** HL7 segments are separated by CR: one per line for reading. */
const segments = (raw: string): string => raw.replace(/\r\n?/g, '\n').trim();

function MessageDetail({ id, onClose }: { id: number; onClose: () => void }): JSX.Element {
  const msg = useAsync((signal) => get<Hl7Detail>(`/hl7/messages/${id}`, undefined, signal), [id]);
  return (
    <section class="card hl7-detail" aria-labelledby="hl7-detail-title">
      <div class="row">
        <h2 id="hl7-detail-title">
          Message {msg.data ? `${msg.data.message_type} ${msg.data.control_id}` : `#${id}`}
        </h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <ErrorBanner error={msg.error} />
      {!msg.data && msg.loading && <Loading />}
      {msg.data && (
        <>
          <p>
            {msg.data.direction === 'in' ? 'Received from' : 'Sent to'} {msg.data.remote_address || msg.data.sending_application} ·{' '}
            {when(msg.data.created_at)} · status <strong>{msg.data.status}</strong>
            {msg.data.ack_code && <> · ACK {msg.data.ack_code}</>}
          </p>
          {msg.data.error && <p class="error">{msg.data.error}</p>}
          <h3>Message</h3>
          <pre class="hl7-raw" data-testid="hl7-raw">{segments(msg.data.raw)}</pre>
          {msg.data.ack_raw && (
            <>
              <h3>Acknowledgement</h3>
              <pre class="hl7-raw">{segments(msg.data.ack_raw)}</pre>
            </>
          )}
        </>
      )}
    </section>
  );
}

export function Hl7Section(): JSX.Element {
  const [filters, setFilters] = useState({ direction: '', type: '', status: '', patient_id: '', accession: '' });
  const [applied, setApplied] = useState(filters);
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<number | undefined>(undefined);
  const limit = 50;
  const page = useAsync(
    (signal) => get<Page<Hl7Message>>('/hl7/messages', { ...applied, limit, offset }, signal),
    [applied, offset],
  );
  const set = (key: keyof typeof filters) => (e: Event) => setFilters({ ...filters, [key]: (e.target as HTMLInputElement).value });
  return (
    <>
      <h1>HL7 message log</h1>
      <form
        class="row filters"
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setApplied({ ...filters });
        }}
      >
        <Field label="Direction" id="hl7-direction">
          <select id="hl7-direction" value={filters.direction} onChange={set('direction')}>
            <option value="">Both</option>
            <option value="in">Received</option>
            <option value="out">Sent</option>
          </select>
        </Field>
        <Field label="Type" id="hl7-type" hint="ADT^A01 or ADT">
          <input id="hl7-type" value={filters.type} onInput={set('type')} />
        </Field>
        <Field label="Status" id="hl7-status" hint="applied, error, rejected, sent…">
          <input id="hl7-status" value={filters.status} onInput={set('status')} />
        </Field>
        <Field label="Patient ID" id="hl7-patient">
          <input id="hl7-patient" value={filters.patient_id} onInput={set('patient_id')} />
        </Field>
        <Field label="Accession" id="hl7-accession">
          <input id="hl7-accession" value={filters.accession} onInput={set('accession')} />
        </Field>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      {open !== undefined && <MessageDetail id={open} onClose={() => setOpen(undefined)} />}
      <ErrorBanner error={page.error} />
      {!page.data && page.loading && <Loading />}
      {page.data && page.data.items.length === 0 && <Empty>No HL7 messages{Object.values(applied).some(Boolean) ? ' match' : ' yet'}.</Empty>}
      {page.data && page.data.items.length > 0 && (
        <table class="admin-table">
          <thead>
            <tr>
              <th>When</th>
              <th>Direction</th>
              <th>Type</th>
              <th>From / to</th>
              <th>Control ID</th>
              <th>Patient / accession</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {page.data.items.map((m) => (
              <tr key={m.id}>
                <td>{when(m.created_at)}</td>
                <td>{m.direction === 'in' ? '← in' : '→ out'}</td>
                <td class="mono">{m.message_type}</td>
                <td>
                  {m.sending_application}
                  {m.sending_facility && <span class="muted small"> @ {m.sending_facility}</span>}
                  {m.remote_address && <div class="muted small mono">{m.remote_address}</div>}
                </td>
                <td class="mono small">{m.control_id}</td>
                <td class="small">
                  {m.patient_id} {m.accession_number && <span class="mono">· {m.accession_number}</span>}
                </td>
                <td>
                  <span class={`badge ${m.status === 'applied' || m.status === 'sent' ? 'ok' : m.error ? 'danger' : ''}`}>{m.status}</span>
                  {m.ack_code && <span class="muted small"> {m.ack_code}</span>}
                </td>
                <td>
                  <button type="button" onClick={() => setOpen(m.id)}>
                    View
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page.data && <Pager offset={offset} limit={limit} count={page.data.items.length} total={page.data.total} onOffset={setOffset} />}
    </>
  );
}
