/**
 * Patient chart (/animals/:id): the animal with its alerts, owners with contact details, an inline
 * edit form, and the timeline of orders, studies (thumbnails, one click to the viewer, compare
 * with the prior study), reports (signed PDF; a withdrawn one marked "entered in error") and
 * charges; the reports and charges the reader may see are summed up beside the owners, where
 * billing:write may add a manual charge (billing-add.tsx) and void one on its card.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { get, viewerUrl } from '../api';
import { AddChargeButton } from '../billing-add';
import { VoidChargeButton } from '../billing-void';
import { formatMoney, totalsByCurrency } from '../billing-model';
import { AnimalEditForm } from '../chart-edit';
import { type AnimalRead, type OwnerRead, breedName, ownerName, sexLabel, speciesName } from '../chart-model';
import { choosePrior } from '../chart-prior';
import { type OrderRead, hhmm } from '../order-model';
import { Link } from '../router';
import { can, type ScreenProps } from '../screen';
import { StatusBadge, Thumb } from '../search-parts';
import { type ChargeSummary, type ReportSummary, type StudyHit, type Timeline } from '../search-model';
import { Empty, ErrorBanner, Loading, ageOf, isoDate, useAsync } from '../ui';

export function ChartScreen({ params, me }: ScreenProps): JSX.Element {
  const id = params.id;
  const animal = useAsync((signal) => get<AnimalRead>(`/animals/${encodeURIComponent(id)}`, undefined, signal), [id]);
  const [edited, setEdited] = useState<AnimalRead | undefined>(undefined);
  const [editing, setEditing] = useState(false);
  const a = edited ?? animal.data;
  const owners = useAsync(
    (signal) =>
      a ? Promise.all(a.owners.map((o) => get<OwnerRead>(`/owners/${o.owner_id}`, undefined, signal))) : Promise.resolve([]),
    [a?.id, a?.owners.map((o) => o.owner_id).join(',')],
  );
  const timeline = useAsync((signal) => get<Timeline>(`/animals/${encodeURIComponent(id)}/timeline`, undefined, signal), [id]);

  if (animal.error) return <ErrorBanner error={animal.error} />;
  if (!a) return <Loading />;
  const born = isoDate(a.birth_date);
  const items = timeline.data?.items ?? [];
  const studies = items.flatMap((i) => (i.kind === 'study' ? [i.study] : []));
  const reports = items.flatMap((i) => (i.kind === 'report' ? [i.report] : []));
  const charges = items.flatMap((i) => (i.kind === 'charge' ? [i.charge] : []));
  const orders = items.flatMap((i) => (i.kind === 'order' ? [i.order] : []));

  return (
    <section class="chart">
      <div class="screen-head">
        <h1>
          {a.name} {a.deceased && <span class="badge">deceased</span>}
        </h1>
        <div class="actions">
          {can(me, 'patients:write') && !editing && (
            <button type="button" onClick={() => setEditing(true)}>
              Edit patient
            </button>
          )}
          {can(me, 'orders:write') && (
            <Link to={`/orders/new?animal=${a.id}`} class="button primary">
              New order
            </Link>
          )}
        </div>
      </div>
      {a.merged_into_id && (
        <p class="error" role="alert">
          This record was merged: see <Link to={`/animals/${a.merged_into_id}`}>the surviving record</Link>.
        </p>
      )}
      {a.alerts && (
        <div class="alerts" role="note" aria-label="Alerts">
          ⚠ {a.alerts}
        </div>
      )}
      {editing && (
        <AnimalEditForm
          animal={a}
          onCancel={() => setEditing(false)}
          onSaved={(saved) => {
            setEdited(saved);
            setEditing(false);
          }}
        />
      )}
      <div class="chart-grid">
        <div>
          <div class="card">
            <h2>Patient</h2>
            <dl class="facts">
              <dt>Species</dt>
              <dd>{speciesName(a) || '—'}</dd>
              <dt>Breed</dt>
              <dd>{[breedName(a), a.breed && a.breed_text ? a.breed_text : ''].filter(Boolean).join(' · ') || '—'}</dd>
              <dt>Age</dt>
              <dd>
                {born ? `${ageOf(born)} (born ${born}${a.birth_date_estimated ? ', estimated' : ''})` : 'unknown'}
              </dd>
              <dt>Sex</dt>
              <dd>{sexLabel(a.sex, a.neuter_status)}</dd>
              <dt>Weight</dt>
              <dd>{a.weight_kg !== null ? `${a.weight_kg} kg` : '—'}</dd>
              <dt>Microchip</dt>
              <dd class="mono">{a.microchip || '—'}</dd>
              <dt>Colour</dt>
              <dd>{a.colour || '—'}</dd>
              <dt>PMS id</dt>
              <dd class="mono">{a.external_id || '—'}</dd>
              <dt>Patient ID</dt>
              <dd class="mono">{a.patient_id}</dd>
            </dl>
          </div>
          <div class="card" style={{ marginTop: '1rem' }}>
            <h2>Owners</h2>
            {a.owners.length === 0 ? (
              <Empty>No owner recorded.</Empty>
            ) : owners.error ? (
              <ErrorBanner error={owners.error} />
            ) : (
              <ul class="owner-list">
                {a.owners.map((link) => {
                  const o = owners.data?.find((x) => x.id === link.owner_id);
                  return (
                    <li key={link.owner_id}>
                      <strong>{ownerName(link)}</strong>{' '}
                      <span class="muted small">
                        {link.is_primary ? 'primary' : ''} {link.role.toLowerCase()}
                      </span>
                      {o && (
                        <div class="small">
                          {o.phone && (
                            <div>
                              ☎ <a href={`tel:${o.phone}`}>{o.phone}</a>
                            </div>
                          )}
                          {o.email && (
                            <div>
                              ✉ <a href={`mailto:${o.email}`}>{o.email}</a>
                            </div>
                          )}
                          {(o.address_line || o.city) && (
                            <div>{[o.address_line, [o.postal_code, o.city].filter(Boolean).join(' '), o.country].filter(Boolean).join(', ')}</div>
                          )}
                          {o.organization && <div>{o.organization}</div>}
                          {!o.phone && !o.email && !o.address_line && <div class="muted">no contact details</div>}
                        </div>
                      )}
                    </li>
                  );
                })}
              </ul>
            )}
          </div>
          <div class="card" style={{ marginTop: '1rem' }}>
            <h2>Reports and charges</h2>
            <ReportsAndCharges me={me} reports={reports} charges={charges} loading={!timeline.data} />
            {can(me, 'billing:write') && timeline.data && (
              <div class="card-actions">
                <AddChargeButton animalId={a.id} orders={orders} onAdded={timeline.reload} />
              </div>
            )}
          </div>
        </div>
        <div>
          <h2 style={{ marginTop: 0 }}>Timeline</h2>
          {timeline.error ? (
            <ErrorBanner error={timeline.error} />
          ) : !timeline.data ? (
            <Loading />
          ) : timeline.data.items.length === 0 ? (
            <Empty>No orders or studies for {a.name} yet.</Empty>
          ) : (
            <ol class="timeline">
              {timeline.data.items.map((item) =>
                item.kind === 'order' ? (
                  <li key={`o${item.order.id}`}>
                    <span class="when">{isoDate(item.at)}</span>
                    <OrderCard order={item.order} />
                  </li>
                ) : item.kind === 'report' ? (
                  <li key={`r${item.report.id}`}>
                    <span class="when">{isoDate(item.at)}</span>
                    <ReportCard report={item.report} />
                  </li>
                ) : item.kind === 'charge' ? (
                  <li key={`c${item.charge.id}`}>
                    <span class="when">{isoDate(item.at)}</span>
                    <ChargeCard charge={item.charge} canVoid={can(me, 'billing:write')} onVoided={timeline.reload} />
                  </li>
                ) : (
                  <li key={`s${item.study.study_uid}`}>
                    <span class="when">{item.study.study_date ?? isoDate(item.at)}</span>
                    <StudyCard
                      study={item.study}
                      prior={choosePrior(item.study, studies)}
                      report={reportButton(me, reportFor(item.study.study_uid, reports))}
                      animalId={a.id}
                    />
                  </li>
                ),
              )}
            </ol>
          )}
        </div>
      </div>
    </section>
  );
}

function OrderCard({ order }: { order: OrderRead }): JSX.Element {
  return (
    <div class="card" data-order={order.accession_number}>
      <div class="tl-head">
        <strong>Order</strong> <span class="mono">{order.accession_number}</span> <StatusBadge status={order.status} />
        {order.priority !== 'ROUTINE' && <span class="badge danger">{order.priority}</span>}
      </div>
      {order.clinical_question && <div>“{order.clinical_question}”</div>}
      <div class="muted small">
        {[order.requesting_vet && `requested by ${order.requesting_vet}`, order.body_region, order.laterality && `side ${order.laterality}`]
          .filter(Boolean)
          .join(' · ')}
      </div>
      <ul class="steps">
        {order.steps.map((s) => (
          <li key={s.id}>
            {s.procedure_name} <span class="muted">({s.modality})</span> —{' '}
            {s.start ? `${s.station_name ?? 'station'} ${isoDate(s.start)} ${hhmm(s.start)}` : <em>not scheduled</em>}{' '}
            <span class="muted small">{s.status.toLowerCase()}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function ReportsAndCharges(props: {
  me: ScreenProps['me'];
  reports: ReportSummary[];
  charges: ChargeSummary[];
  loading: boolean;
}): JSX.Element {
  const { me, reports, charges } = props;
  if (props.loading) return <Loading />;
  const signed = reports.filter((r) => r.status === 'final' || r.status === 'amended');
  const drafts = reports.filter((r) => r.status === 'draft');
  const withdrawn = reports.filter((r) => r.status === 'entered-in-error');
  const totals = totalsByCurrency(charges);
  return (
    <div class="small" data-reports={signed.length} data-charges={charges.filter((c) => c.status === 'posted').length}>
      {can(me, 'reports:read') ? (
        <p>
          {signed.length} signed report{signed.length === 1 ? '' : 's'}
          {drafts.length > 0 && `, ${drafts.length} draft${drafts.length === 1 ? '' : 's'}`}
          {withdrawn.length > 0 && `, ${withdrawn.length} withdrawn`}
          {signed[0] && (
            <>
              {' '}
              · newest: <a href={signed[0].pdf_url}>{signed[0].title} (PDF)</a>
            </>
          )}
        </p>
      ) : (
        <p class="muted">Reports: not shown (no reports:read permission).</p>
      )}
      {can(me, 'billing:read') ? (
        <p class="charge-total">Charged: {totals.length ? totals.join(' + ') : 'nothing yet'}</p>
      ) : (
        <p class="muted">Charges: not shown (no billing:read permission).</p>
      )}
    </div>
  );
}

function ReportCard({ report }: { report: ReportSummary }): JSX.Element {
  const signed = report.status === 'final' || report.status === 'amended';
  const withdrawn = report.status === 'entered-in-error';
  return (
    <div class={`card${withdrawn ? ' withdrawn' : ''}`} data-report={report.id} data-status={report.status}>
      <div class="tl-head">
        <strong>Report</strong> {withdrawn ? <s>{report.title}</s> : report.title}{' '}
        <span class={`badge${withdrawn ? ' danger' : ''}`}>{withdrawn ? 'withdrawn (entered in error)' : report.status}</span>
        {report.version > 1 && <span class="muted small"> v{report.version}</span>}
      </div>
      {report.conclusion && (withdrawn ? <div class="muted"><s>{report.conclusion}</s></div> : <div>{report.conclusion}</div>)}
      <div class="muted small">
        {withdrawn
          ? `signed by ${report.signed_by_name}, withdrawn${report.withdrawn_reason ? `: ${report.withdrawn_reason}` : ''}`
          : signed
            ? `signed by ${report.signed_by_name}`
            : 'draft, not signed'}
        {report.accession_number && <span class="mono"> · {report.accession_number}</span>}
      </div>
      {signed && report.pdf_url && (
        <div class="card-actions">
          <a class="button small" href={report.pdf_url}>
            PDF
          </a>
        </div>
      )}
    </div>
  );
}

function ChargeCard({ charge, canVoid, onVoided }: { charge: ChargeSummary; canVoid: boolean; onVoided: () => void }): JSX.Element {
  return (
    <div class="card" data-charge={charge.id}>
      <div class="tl-head">
        <strong>Charge</strong> <span class="mono">{charge.fee_code}</span> {charge.description}{' '}
        {charge.status === 'voided' && <span class="badge danger">voided</span>}
      </div>
      <div class="small">
        {charge.quantity} × · <strong>{formatMoney(charge.amount, charge.currency)}</strong>
        {charge.accession_number && <span class="mono"> · {charge.accession_number}</span>}
        {charge.status === 'voided' && charge.void_reason && <span> · voided: {charge.void_reason}</span>}
      </div>
      {canVoid && charge.status === 'posted' && (
        <div class="card-actions">
          <VoidChargeButton charge={charge} onVoided={onVoided} />
        </div>
      )}
    </div>
  );
}

/** The study's report that is not cancelled (the API allows one per study), else its withdrawn one. */
function reportFor(uid: string, reports: ReportSummary[]): ReportSummary | undefined {
  const mine = reports.filter((r) => r.study_instance_uid === uid);
  return mine.find((r) => r.status !== 'cancelled' && r.status !== 'entered-in-error') ?? mine.find((r) => r.status === 'entered-in-error');
}

/** The study card's report link: none without reports:read, nor "Write report" without reports:write. */
function reportButton(me: ScreenProps['me'], report: ReportSummary | undefined): ReportSummary | undefined | false {
  if (!can(me, 'reports:read')) return false;
  return report || can(me, 'reports:write') ? report : false;
}

function StudyCard(props: {
  study: StudyHit;
  prior: StudyHit | undefined;
  report: ReportSummary | undefined | false; // false: no reports:read, no Report button
  animalId: number;
}): JSX.Element {
  const { study, prior, report } = props;
  return (
    <div class="card study-item" data-study={study.study_uid}>
      <a href={viewerUrl(study.study_uid)} title="Open in the viewer">
        <Thumb uid={study.study_uid} size={96} />
      </a>
      <div>
        <div class="tl-head">
          <strong>{study.description || 'Study'}</strong> <StatusBadge status={study.status} />
        </div>
        <div class="small">
          {study.modalities.join(', ')} {study.body_parts.length > 0 && `· ${study.body_parts.join(', ')}`} · {study.series} series,{' '}
          {study.instances} images {study.accession_number && <span class="mono">· {study.accession_number}</span>}
        </div>
        <div class="card-actions">
          <a class="button small primary" href={viewerUrl(study.study_uid)}>
            Open
          </a>
          {prior ? (
            <a class="button small" href={viewerUrl(study.study_uid, prior.study_uid)} title={`Prior: ${prior.study_date} ${prior.description}`}>
              Compare with prior ({prior.study_date})
            </a>
          ) : (
            <span class="muted small">no earlier study</span>
          )}
          {report !== false && (
            <Link to={`/studies/${encodeURIComponent(study.study_uid)}/report?animal=${props.animalId}`} class="button small">
              {report ? 'Report' : 'Write report'}
            </Link>
          )}
        </div>
      </div>
    </div>
  );
}
