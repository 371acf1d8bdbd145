/**
 * The technician's board (/board): one day's bookings per station, each card with its live status
 * (scheduled, arrived, in progress, completed, images received) and the actions of its status
 * (Arrived, No-show, Images). Updates without a reload: domain events over SSE (live.ts) trigger a
 * refetch, with a 30 s timer as the fallback. The day is in the query string (?date=YYYY-MM-DD).
 */
import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ConfirmButton } from '../admin-kit';
import { get, post, viewerUrl } from '../api';
import {
  actionsOf,
  BOARD_EVENTS,
  chipOf,
  lanesOf,
  summaryOf,
  timeRange,
  type DayEntry,
  type Lane,
  type StationDay,
} from '../board-model';
import { liveLabel, POLL_MS, useLiveEvents, usePolling } from '../live';
import { Link, navigate } from '../router';
import { can, type ScreenProps } from '../screen';
import { Empty, ErrorBanner, Loading, today, useAction, useAsync } from '../ui';

function shiftDay(day: string, by: number): string {
  const d = new Date(`${day}T12:00:00`);
  d.setDate(d.getDate() + by);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function Card(props: { entry: DayEntry; writable: boolean; onChanged: () => void }): JSX.Element {
  const { entry } = props;
  const chip = chipOf(entry);
  const actions = actionsOf(entry);
  const who = entry.animal_name || `Animal ${entry.animal_id}`;
  const arrived = useAction(
    () => post(`/orders/${entry.step.order_id}/arrived`, { reason: 'marked on the board' }),
    `${who}: arrived`,
  );
  const noShow = useAction(
    () => post(`/orders/${entry.step.order_id}/no-show`, { reason: 'marked on the board' }),
    `${who}: no-show`,
  );
  const busy = arrived.busy || noShow.busy;
  return (
    <li
      class={`board-card status-${chip.kind}${entry.priority === 'STAT' ? ' stat' : ''}`}
      data-accession={entry.accession_number}
      aria-label={`${timeRange(entry.step)} ${who}, ${entry.step.procedure_name}, ${chip.label}`}
    >
      <div class="board-card-head">
        <span class="board-time">{timeRange(entry.step)}</span>
        {entry.priority !== 'ROUTINE' && (
          <span class={`badge ${entry.priority === 'STAT' ? 'danger' : 'warn'} priority`}>{entry.priority}</span>
        )}
        <span class={`badge chip ${chip.tone}`} data-status={chip.kind} role="status">
          {chip.label}
        </span>
      </div>
      <div class="board-animal">
        <Link to={`/animals/${entry.animal_id}`}>{who}</Link>
        {entry.species ? <span class="muted"> · {entry.species}</span> : null}
      </div>
      {entry.owner ? <div class="muted">Owner: {entry.owner}</div> : null}
      <div class="board-procedure">{entry.step.procedure_name || entry.step.procedure_code}</div>
      <div class="muted small">
        Accession <span class="mono">{entry.accession_number}</span> · {entry.step.modality}
      </div>
      <div class="board-actions">
        {props.writable && actions.arrived && (
          <button
            type="button"
            class="primary"
            disabled={busy}
            onClick={async () => {
              if ((await arrived.run()) !== undefined) props.onChanged();
            }}
          >
            {arrived.busy ? 'Saving…' : 'Arrived'}
          </button>
        )}
        {props.writable && actions.noShow && (
          <ConfirmButton
            label="No-show"
            question={`${who} did not come?`}
            confirmLabel="Yes, no-show"
            busy={noShow.busy}
            disabled={busy}
            onConfirm={async () => {
              if ((await noShow.run()) !== undefined) props.onChanged();
            }}
          />
        )}
        {actions.images && entry.study_uid && (
          <a class="button" href={viewerUrl(entry.study_uid)} target="_blank" rel="noopener">
            Open images
          </a>
        )}
      </div>
      {(arrived.error || noShow.error) && <ErrorBanner error={arrived.error || noShow.error} />}
    </li>
  );
}

function LaneView(props: { lane: Lane; writable: boolean; onChanged: () => void }): JSX.Element {
  const { station } = props.lane;
  const id = `lane-${station.id}`;
  return (
    <section class="board-lane" aria-labelledby={id} data-station={station.name}>
      <header>
        <h2 id={id}>
          {station.name} <span class="badge">{station.modality}</span>
        </h2>
        <div class="muted small">
          {station.location ? `${station.location} · ` : ''}
          {props.lane.opening} · {props.lane.entries.length} booked
        </div>
      </header>
      <ol class="board-cards">
        {props.lane.entries.map((entry) => (
          <Card key={entry.step.id} entry={entry} writable={props.writable} onChanged={props.onChanged} />
        ))}
      </ol>
    </section>
  );
}

export function BoardScreen({ location, me }: ScreenProps): JSX.Element {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(location.query.get('date') ?? '') ? location.query.get('date')! : today();
  const modality = location.query.get('modality') ?? '';
  const board = useAsync((signal) => get<StationDay[]>('/schedule/day', { date: day }, signal), [day]);
  const [updatedAt, setUpdatedAt] = useState<Date | undefined>(undefined);
  useEffect(() => {
    if (board.data) setUpdatedAt(new Date());
  }, [board.data]);
  const live = useLiveEvents(BOARD_EVENTS, board.reload);
  usePolling(board.reload, POLL_MS);

  const setQuery = (next: { date?: string; modality?: string }): void => {
    const params = new URLSearchParams();
    const d = next.date ?? day;
    const m = next.modality ?? modality;
    if (d !== today()) params.set('date', d);
    if (m) params.set('modality', m);
    const qs = params.toString();
    navigate(`/board${qs ? `?${qs}` : ''}`, true);
  };

  const modalities = useMemo(
    () => [...new Set((board.data ?? []).map((d) => d.station.modality))].sort(),
    [board.data],
  );
  const { lanes, idle } = useMemo(() => lanesOf(board.data ?? [], modality), [board.data, modality]);
  const summary = summaryOf(lanes);
  const writable = can(me, 'orders:write');

  return (
    <section class="board">
      <div class="board-toolbar">
        <h1>Technician's board</h1>
        <div class="board-controls">
          <button type="button" onClick={() => setQuery({ date: shiftDay(day, -1) })} aria-label="Previous day">
            ←
          </button>
          <label class="sr-only" for="board-date">
            Day
          </label>
          <input
            id="board-date"
            type="date"
            value={day}
            onChange={(e) => {
              const value = (e.target as HTMLInputElement).value;
              if (value) setQuery({ date: value });
            }}
          />
          <button type="button" onClick={() => setQuery({ date: shiftDay(day, 1) })} aria-label="Next day">
            →
          </button>
          {day !== today() && (
            <button type="button" onClick={() => setQuery({ date: today() })}>
              Today
            </button>
          )}
          <label class="sr-only" for="board-modality">
            Modality
          </label>
          <select
            id="board-modality"
            value={modality}
            onChange={(e) => setQuery({ modality: (e.target as HTMLSelectElement).value })}
          >
            <option value="">All modalities</option>
            {modalities.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
          <button type="button" onClick={board.reload} disabled={board.loading}>
            {board.loading && board.data ? 'Refreshing…' : 'Refresh'}
          </button>
        </div>
        <div class="board-status">
          <span class={`live-dot live-${live}`} data-live={live} role="status" aria-live="polite">
            {liveLabel(live)}
          </span>
          {updatedAt && (
            <span class="muted small" data-testid="last-updated">
              Last updated {updatedAt.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })}
            </span>
          )}
        </div>
      </div>
      <ErrorBanner error={board.error} />
      {!board.data && board.loading && <Loading label="Loading the day…" />}
      {board.data && (
        <>
          <p class="muted">
            {summary.total
              ? `${summary.total} booked · ${summary.waiting} waiting · ${summary.done} done`
              : null}
          </p>
          {lanes.length === 0 ? (
            <Empty>
              Nothing booked on {day === today() ? 'today' : day}
              {modality ? ` for ${modality}` : ''}.{' '}
              {can(me, 'orders:write') && <Link to="/schedule">Open the schedule</Link>}
            </Empty>
          ) : (
            <div class="board-lanes">
              {lanes.map((lane) => (
                <LaneView key={lane.station.id} lane={lane} writable={writable} onChanged={board.reload} />
              ))}
            </div>
          )}
          {idle.length > 0 && lanes.length > 0 && (
            <p class="muted small">Nothing booked on {idle.map((s) => s.name).join(', ')}.</p>
          )}
        </>
      )}
    </section>
  );
}
