/**
 * Schedule (/schedule?day=YYYY-MM-DD): the day per station (columns = stations, rows = time,
 * opening hours white, closed time hatched), bookings as blocks. Drag a block (mouse, pen or touch)
 * to another time or station to re-book it; a refused booking (409) shows the server's reason and
 * the block goes back. "Move…" on each block is the keyboard way. Steps of open orders without a
 * time are listed beside the day, to drag in or book with the form.
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, post } from '../api';
import { type AnimalRead, type Page, ownerName } from '../chart-model';
import { type DayEntry, type OrderRead, type StationDay, type StepRead, hhmm } from '../order-model';
import { Link, navigate } from '../router';
import { can, type ScreenProps } from '../screen';
import { MoveForm, type MoveTarget } from '../schedule-move';
import { addDays, dayRange, fmtMinutes, localStart, minutesOfLocal, nowMinutes, openIntervals, snap } from '../schedule-slots';
import { Empty, ErrorBanner, Loading, today, toast, useAsync } from '../ui';

const PX = 2; // pixels per minute
const DRAG_THRESHOLD = 5;

interface Unscheduled {
  step: StepRead;
  order: OrderRead;
  animal?: AnimalRead;
}

interface Drag {
  stepId: number;
  modality: string;
  duration: number;
  label: string;
  offset: number; // minutes between the block's start and the pointer
  x0: number;
  y0: number;
  active: boolean;
  target?: { stationId: number; minutes: number };
}

function weekday(day: string): string {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
}

export function ScheduleScreen({ location, me }: ScreenProps): JSX.Element {
  const qd = location.query.get('day') ?? '';
  const day = /^\d{4}-\d{2}-\d{2}$/.test(qd) ? qd : today();
  const setDay = (d: string): void => navigate(`/schedule?day=${d}`, true);
  const schedule = useAsync((signal) => get<StationDay[]>('/schedule/day', { date: day }, signal), [day]);
  const open = useAsync(async (signal) => {
    const page = await get<Page<OrderRead>>('/orders', { status: ['ordered', 'scheduled', 'arrived'], limit: 200 }, signal);
    const items = page.items.flatMap((order) =>
      order.steps.filter((s) => !s.start && (s.status === 'SCHEDULED' || s.status === 'ARRIVED')).map((step) => ({ step, order })),
    );
    const ids = [...new Set(items.map((i) => i.order.animal_id))].slice(0, 60);
    const animals = await Promise.all(ids.map((id) => get<AnimalRead>(`/animals/${id}`, undefined, signal).catch(() => undefined)));
    return items.map((i): Unscheduled => ({ ...i, animal: animals.find((a) => a?.id === i.order.animal_id) }));
  }, []);

  const [override, setOverride] = useState<Record<number, { stationId: number; minutes: number }>>({});
  const [drag, setDrag] = useState<Drag | undefined>(undefined);
  const [moving, setMoving] = useState<MoveTarget | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<string | undefined>(undefined);
  const columns = useRef(new Map<number, HTMLElement>());
  const writer = can(me, 'orders:write');

  const days = schedule.data ?? [];
  const [from, to] = dayRange(days);
  const height = (to - from) * PX;

  const book = async (stepId: number, stationId: number, onDay: string, minutes: number, what: string): Promise<boolean> => {
    setBusy(true);
    setRefusal(undefined);
    if (onDay === day) setOverride((o) => ({ ...o, [stepId]: { stationId, minutes } }));
    try {
      const step = await post<StepRead>(`/steps/${stepId}/schedule`, { station_id: stationId, start: localStart(onDay, minutes) });
      toast(`${what} booked ${step.start?.slice(0, 10)} ${hhmm(step.start)} on ${step.station_name ?? 'the station'}`);
      setMoving(undefined);
      schedule.reload();
      open.reload();
      return true;
    } catch (err) {
      const reason = err instanceof ApiError ? err.message : String(err);
      setRefusal(`${what} was not moved: ${reason}`);
      toast(`Not moved: ${reason}`, 'error');
      return false;
    } finally {
      setOverride((o) => {
        const next = { ...o };
        delete next[stepId];
        return next;
      });
      setBusy(false);
    }
  };

  // pointer dragging (mouse, pen, touch); the move and up listeners live on window while a drag runs
  useEffect(() => {
    if (!drag) return;
    const where = (x: number, y: number): Drag['target'] => {
      for (const [stationId, el] of columns.current) {
        const r = el.getBoundingClientRect();
        if (x >= r.left && x < r.right && y >= r.top - 40 && y <= r.bottom + 40) {
          const minutes = snap(from + (y - r.top) / PX - drag.offset, 5);
          return { stationId, minutes: Math.max(0, Math.min(24 * 60 - drag.duration, minutes)) };
        }
      }
      return undefined;
    };
    const move = (e: PointerEvent): void => {
      const active = drag.active || Math.hypot(e.clientX - drag.x0, e.clientY - drag.y0) > DRAG_THRESHOLD;
      if (active) e.preventDefault();
      setDrag({ ...drag, active, target: active ? where(e.clientX, e.clientY) : undefined });
    };
    const up = (): void => {
      const d = drag;
      setDrag(undefined);
      if (d.active && d.target) void book(d.stepId, d.target.stationId, day, d.target.minutes, d.label);
    };
    const cancel = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') setDrag(undefined);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    window.addEventListener('keydown', cancel);
    return () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      window.removeEventListener('keydown', cancel);
    };
  }, [drag, from, day]);

  const startDrag = (e: PointerEvent, stepId: number, modality: string, duration: number, label: string, blockStart?: number): void => {
    if (!writer || e.button !== 0 || (e.target as HTMLElement).closest('button, a')) return;
    let offset = 0;
    if (blockStart !== undefined) {
      const col = (e.currentTarget as HTMLElement).parentElement!.getBoundingClientRect();
      offset = from + (e.clientY - col.top) / PX - blockStart;
    }
    setDrag({ stepId, modality, duration, label, offset, x0: e.clientX, y0: e.clientY, active: false });
  };

  const isToday = day === today();
  const stationsList = days.map((d) => d.station);

  return (
    <section class="schedule">
      <div class="sched-bar">
        <h1 style={{ margin: 0 }}>Schedule</h1>
        <button type="button" onClick={() => setDay(addDays(day, -1))} aria-label="Previous day">
          ← Previous
        </button>
        <label class="sr-only" for="sched-day">
          Day
        </label>
        <input id="sched-day" type="date" value={day} onChange={(e) => e.currentTarget.value && setDay(e.currentTarget.value)} />
        <button type="button" onClick={() => setDay(addDays(day, 1))} aria-label="Next day">
          Next →
        </button>
        {!isToday && (
          <button type="button" onClick={() => setDay(today())}>
            Today
          </button>
        )}
        <strong>{weekday(day)}</strong>
      </div>
      {refusal && (
        <p class="error" role="alert" data-testid="refusal">
          {refusal}{' '}
          <button type="button" class="link" onClick={() => setRefusal(undefined)}>
            Dismiss
          </button>
        </p>
      )}
      <div class="sched-layout">
        <div>
          {schedule.error ? (
            <ErrorBanner error={schedule.error} />
          ) : !schedule.data ? (
            <Loading />
          ) : days.length === 0 ? (
            <Empty>No active station: an administrator adds stations under Admin.</Empty>
          ) : (
            <div class="sched-scroll">
              <div class="sched-grid" style={{ gridTemplateColumns: `3.5rem repeat(${days.length}, minmax(9.5rem, 1fr))` }}>
                <div class="sched-head" />
                {days.map((d) => (
                  <div key={d.station.id} class="sched-head" data-station-head={d.station.name}>
                    {d.station.name} <span class="muted small">{d.station.modality}</span>
                    <div class="muted small">
                      {d.always_open ? 'open all day' : d.opening_hours.length ? d.opening_hours.map(([a, b]) => `${a}–${b}`).join(', ') : 'closed'}
                    </div>
                  </div>
                ))}
                <div class="sched-times" style={{ height }} aria-hidden="true">
                  {Array.from({ length: (to - from) / 60 + 1 }, (_, i) => (
                    <span key={i} style={{ top: i * 60 * PX, transform: i === 0 ? 'none' : undefined }}>
                      {fmtMinutes(from + i * 60)}
                    </span>
                  ))}
                </div>
                {days.map((d) => (
                  <StationColumn
                    key={d.station.id}
                    day={d}
                    from={from}
                    height={height}
                    isToday={isToday}
                    drag={drag}
                    override={override}
                    writer={writer}
                    register={(el) => (el ? columns.current.set(d.station.id, el) : columns.current.delete(d.station.id))}
                    onPointerDown={startDrag}
                    onMove={(e) =>
                      setMoving({
                        stepId: e.step.id,
                        title: `${e.accession_number} ${e.step.procedure_name} (${e.animal_name})`,
                        modality: e.step.modality,
                        stationId: e.step.station_id,
                        day,
                        time: hhmm(e.step.start),
                      })
                    }
                  />
                ))}
              </div>
            </div>
          )}
        </div>
        <aside>
          {moving && (
            <MoveForm
              target={moving}
              stations={stationsList}
              busy={busy}
              error={refusal}
              onCancel={() => setMoving(undefined)}
              onMove={(stationId, onDay, minutes) => void book(moving.stepId, stationId, onDay, minutes, moving.title)}
            />
          )}
          <h2>Not scheduled</h2>
          {open.error ? (
            <ErrorBanner error={open.error} />
          ) : !open.data ? (
            <Loading />
          ) : open.data.length === 0 ? (
            <Empty>Every step of the open orders has a time.</Empty>
          ) : (
            <ul class="unscheduled">
              {open.data.map((u) => {
                const label = `${u.order.accession_number} ${u.step.procedure_name} (${u.animal?.name ?? 'animal ' + u.order.animal_id})`;
                return (
                  <li
                    key={u.step.id}
                    class="card"
                    data-unscheduled={u.order.accession_number}
                    onPointerDown={(e) => startDrag(e, u.step.id, u.step.modality, u.step.duration_minutes, label)}
                  >
                    <div>
                      <strong>{u.animal ? <Link to={`/animals/${u.animal.id}`}>{u.animal.name}</Link> : `Animal ${u.order.animal_id}`}</strong>{' '}
                      {u.order.priority !== 'ROUTINE' && <span class="badge danger">{u.order.priority}</span>}
                    </div>
                    <div class="small">
                      {u.step.procedure_name} · {u.step.modality} · {u.step.duration_minutes} min
                    </div>
                    <div class="small muted">
                      <span class="mono">{u.order.accession_number}</span>
                      {u.animal?.owners.length ? ` · ${u.animal.owners.map(ownerName).join('; ')}` : ''}
                    </div>
                    {writer && (
                      <button
                        type="button"
                        class="small"
                        onClick={() =>
                          setMoving({ stepId: u.step.id, title: label, modality: u.step.modality, stationId: null, day, time: isToday ? fmtMinutes(snap(nowMinutes() + 15, 15)) : '09:00' })
                        }
                      >
                        Book…
                      </button>
                    )}
                  </li>
                );
              })}
            </ul>
          )}
          {writer && <p class="muted small">Drag a block, or use Move… / Book… and the form. Esc cancels a drag.</p>}
        </aside>
      </div>
    </section>
  );
}

function StationColumn(props: {
  day: StationDay;
  from: number;
  height: number;
  isToday: boolean;
  drag: Drag | undefined;
  override: Record<number, { stationId: number; minutes: number }>;
  writer: boolean;
  register: (el: HTMLElement | null) => void;
  onPointerDown: (e: PointerEvent, stepId: number, modality: string, duration: number, label: string, blockStart?: number) => void;
  onMove: (e: DayEntry) => void;
}): JSX.Element {
  const { day, from, drag } = props;
  const sid = day.station.id;
  const target = drag?.active && drag.target?.stationId === sid ? drag.target : undefined;
  const y = (minutes: number): number => (minutes - from) * PX;
  const here = day.entries;
  return (
    <div
      class={`sched-col${target ? ' drop-target' : ''}`}
      style={{ height: props.height }}
      ref={props.register}
      data-station={day.station.name}
      aria-label={`${day.station.name}: ${day.entries.length} bookings`}
      role="group"
    >
      {openIntervals(day).map(([a, b]) => (
        <div key={a} class="sched-open" style={{ top: Math.max(0, y(a)), height: Math.max(0, y(b) - Math.max(0, y(a))) }} />
      ))}
      {Array.from({ length: Math.floor(props.height / (60 * PX)) + 1 }, (_, i) => (
        <div key={i} class="sched-hour" style={{ top: i * 60 * PX }} />
      ))}
      {props.isToday && nowMinutes() >= from && <div class="sched-now" style={{ top: y(nowMinutes()) }} aria-hidden="true" />}
      {here.map((e) => {
        // a block moved within this column shows at its new time while the booking is on the way
        const o = props.override[e.step.id]?.stationId === sid ? props.override[e.step.id] : undefined;
        const start = o ? o.minutes : minutesOfLocal(e.step.start!);
        const label = `${e.accession_number} ${e.step.procedure_name} (${e.animal_name})`;
        const text = `${fmtMinutes(start)} ${e.animal_name}${e.species ? ` (${e.species})` : ''} · ${e.step.procedure_name} · ${e.accession_number} · ${e.order_status.replace(/_/g, ' ')}`;
        return (
          <div
            key={e.step.id}
            class={`sched-block ${e.priority}${drag?.active && drag.stepId === e.step.id ? ' dragging' : ''}`}
            style={{ top: y(start), height: Math.max(30, e.step.duration_minutes * PX) }}
            title={text + (e.owner ? ` · ${e.owner}` : '')}
            data-step={e.step.id}
            data-accession={e.accession_number}
            onPointerDown={(ev) => props.onPointerDown(ev, e.step.id, e.step.modality, e.step.duration_minutes, label, start)}
          >
            <div class="sched-text">
              <strong>{fmtMinutes(start)}</strong> {e.animal_name} · {e.step.procedure_name}
              <div class="mono">
                {e.accession_number} <span class="muted">{e.order_status.replace(/_/g, ' ')}</span>
              </div>
              {e.owner && <div class="muted">{e.owner}</div>}
            </div>
            {props.writer && (
              <button type="button" class="move" onClick={() => props.onMove(e)} aria-label={`Move ${label}`}>
                Move…
              </button>
            )}
          </div>
        );
      })}
      {target && drag && (
        <div class="sched-ghost" style={{ top: y(target.minutes), height: Math.max(30, drag.duration * PX) }}>
          {fmtMinutes(target.minutes)} {drag.label}
        </div>
      )}
    </div>
  );
}
