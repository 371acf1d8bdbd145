/**
 * Billing, the missed-charge report (/billing/missed): performed orders without a posted charge,
 * with the reason in words and what fixes it, a link to the animal's chart, a link to the fee
 * list line to fix, and "Charge now" (POST /billing/orders/{id}/charge, billing:write) whose result
 * (charges posted, what still blocks) is shown; then the studies linked to no order.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { when } from './admin-kit';
import { get, post, viewerUrl } from './api';
import {
  type ChargingResult,
  type MissedCharges,
  type MissedOrder,
  canChargeNow,
  chargingSummary,
  reasonFix,
  reasonLabel,
} from './billing-model';
import type { AnimalRead } from './chart-model';
import { Link } from './router';
import { StatusBadge } from './search-parts';
import { Empty, ErrorBanner, Loading, isoDate, useAction, useAsync } from './ui';

const NAMES_AT_MOST = 50;

/** Names of the report's animals (one GET each, at most 50; the others show their id). */
function useAnimalNames(ids: number[]): Map<number, string> {
  const distinct = [...new Set(ids)].slice(0, NAMES_AT_MOST);
  const names = useAsync(
    async (signal) => {
      const found = await Promise.allSettled(distinct.map((id) => get<AnimalRead>(`/animals/${id}`, undefined, signal)));
      const map = new Map<number, string>();
      found.forEach((r) => {
        if (r.status === 'fulfilled') map.set(r.value.id, r.value.name);
      });
      return map;
    },
    [distinct.join(',')],
  );
  return names.data ?? new Map();
}

function MissedOrderRow(props: {
  order: MissedOrder;
  name: string | undefined;
  canWrite: boolean;
  onCharged: (order: MissedOrder, result: ChargingResult) => void;
}): JSX.Element {
  const o = props.order;
  const charge = useAction(() => post<ChargingResult>(`/billing/orders/${o.order_id}/charge`));
  const feeToFix = o.reason === 'fee-not-in-list' || o.reason === 'fee-inactive' ? o.fee_codes[0] : undefined;
  return (
    <tr data-missed-order={o.order_id} data-accession={o.accession_number} data-reason={o.reason}>
      <td>
        <span class="mono">{o.accession_number}</span>
        <div>
          <StatusBadge status={o.order_status} />
        </div>
      </td>
      <td>
        <Link to={`/animals/${o.animal_id}`}>{props.name ?? `Animal #${o.animal_id}`}</Link>
      </td>
      <td>
        {o.procedure_codes.join(', ')}
        {o.fee_codes.length > 0 && <div class="small muted mono">fee {o.fee_codes.join(', ')}</div>}
      </td>
      <td>
        <span class={`badge ${o.reason === 'not-charged' ? 'info' : 'warn'}`}>{reasonLabel(o.reason)}</span>
        {o.detail && <div class="small">{o.detail}</div>}
        <div class="small muted">{reasonFix(o.reason)}</div>
      </td>
      <td class="small">{when(o.performed_at)}</td>
      <td>
        <div class="missed-actions">
          {props.canWrite && feeToFix && (
            <Link to={`/billing/fees?fee=${encodeURIComponent(feeToFix)}`} class="button small">
              Fix fee {feeToFix}
            </Link>
          )}
          {props.canWrite && canChargeNow(o) && (
            <button
              type="button"
              class="small primary"
              disabled={charge.busy}
              aria-label={`Charge order ${o.accession_number} now`}
              onClick={async () => {
                const result = await charge.run();
                if (result) props.onCharged(o, result);
              }}
            >
              {charge.busy ? 'Charging…' : 'Charge now'}
            </button>
          )}
          <Link to={`/animals/${o.animal_id}`} class="button small">
            Chart
          </Link>
        </div>
        {charge.error && <ErrorBanner error={charge.error} />}
      </td>
    </tr>
  );
}

export function MissedPart(props: { canWrite: boolean }): JSX.Element {
  const report = useAsync((signal) => get<MissedCharges>('/billing/missed-charges', { limit: 500 }, signal), []);
  const names = useAnimalNames(report.data?.orders.map((o) => o.animal_id) ?? []);
  const [outcome, setOutcome] = useState<{ text: string; ok: boolean } | undefined>(undefined);
  const data = report.data;
  return (
    <>
      <div class="row billing-bar">
        <p class="muted" style={{ margin: 0 }}>
          Performed orders with no posted charge, and studies linked to no order. Fix the fee list first, then charge.
        </p>
        <button type="button" onClick={report.reload} disabled={report.loading}>
          {report.loading && data ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      {outcome && (
        <p class={outcome.ok ? 'card charge-outcome' : 'error charge-outcome'} role="status">
          {outcome.text}
        </p>
      )}
      <ErrorBanner error={report.error} />
      {!data && report.loading && <Loading />}
      {data && (
        <>
          <h2>
            Orders <span class="badge">{data.orders_total}</span>
          </h2>
          {data.orders.length === 0 ? (
            <Empty>Every performed order is charged.</Empty>
          ) : (
            <div class="table-scroll">
              <table class="admin-table missed-table">
                <caption class="sr-only">Performed orders without a posted charge</caption>
                <thead>
                  <tr>
                    <th scope="col">Order</th>
                    <th scope="col">Animal</th>
                    <th scope="col">Procedures</th>
                    <th scope="col">Why not charged</th>
                    <th scope="col">Performed</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.orders.map((o) => (
                    <MissedOrderRow
                      key={o.order_id}
                      order={o}
                      name={names.get(o.animal_id)}
                      canWrite={props.canWrite}
                      onCharged={(order, result) => {
                        setOutcome({ text: `Order ${order.accession_number}: ${chargingSummary(result)}`, ok: result.posted.length > 0 });
                        report.reload();
                      }}
                    />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {data.orders_total > data.orders.length && (
            <p class="muted small">
              Showing the newest {data.orders.length} of {data.orders_total}.
            </p>
          )}
          <h2>
            Studies linked to no order <span class="badge">{data.studies_total}</span>
          </h2>
          {data.studies.length === 0 ? (
            <Empty>Every archived study belongs to an order or a charge.</Empty>
          ) : (
            <>
              <p class="muted small">{reasonFix('no-order')}</p>
              <div class="table-scroll">
                <table class="admin-table unbilled-table">
                  <caption class="sr-only">Studies linked to no order and named by no charge</caption>
                  <thead>
                    <tr>
                      <th scope="col">Patient</th>
                      <th scope="col">Study date</th>
                      <th scope="col">Modality</th>
                      <th scope="col">Description</th>
                      <th scope="col">Received</th>
                      <th scope="col" />
                    </tr>
                  </thead>
                  <tbody>
                    {data.studies.map((s) => (
                      <tr key={s.study_instance_uid} data-unbilled-study={s.study_instance_uid}>
                        <td>
                          {s.patient_name || '—'} <div class="small mono muted">{s.patient_id}</div>
                        </td>
                        <td>{isoDate(s.study_date) || '—'}</td>
                        <td>{s.modalities || '—'}</td>
                        <td>{s.description || '—'}</td>
                        <td class="small">{when(s.received_at)}</td>
                        <td>
                          <a class="button small" href={viewerUrl(s.study_instance_uid)}>
                            Open
                          </a>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {data.studies_total > data.studies.length && (
                <p class="muted small">
                  Showing the newest {data.studies.length} of {data.studies_total}.
                </p>
              )}
            </>
          )}
        </>
      )}
    </>
  );
}
