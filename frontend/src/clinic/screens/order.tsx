/**
 * Order entry (/orders/new?animal=ID): the animal (found by search when none is given), procedures
 * of the catalog for its species grouped by modality, priority, clinical question, requesting vet,
 * body region and laterality; then optionally a station of that modality, a day with its bookings
 * and a free start time. On success: the accession number and a printable worklist label.
 */
import type { JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get } from '../api';
import { type AnimalRead, KeyForBody, type Page, breedName, ownerName, postIdempotent, speciesName } from '../chart-model';
import { type LabelData, WorklistLabel } from '../label';
import {
  BODY_REGIONS,
  type OrderRead,
  PRIORITIES,
  type Priority,
  type ProcedureRead,
  type StationDay,
  type StationRead,
  byModality,
  hhmm,
} from '../order-model';
import { Link, navigate } from '../router';
import type { ScreenProps } from '../screen';
import { fmtMinutes, freeSlots, localStart, nowMinutes } from '../schedule-slots';
import { Empty, ErrorBanner, Field, Loading, fieldError, today, toast, useAction, useAsync } from '../ui';

export function OrderScreen({ location, me }: ScreenProps): JSX.Element {
  const animalId = location.query.get('animal') ?? '';
  const animal = useAsync(
    (signal) => (animalId ? get<AnimalRead>(`/animals/${encodeURIComponent(animalId)}`, undefined, signal) : Promise.resolve(undefined)),
    [animalId],
  );
  return (
    <section>
      <h1>New order</h1>
      {!animalId ? (
        <AnimalPicker />
      ) : animal.error ? (
        <ErrorBanner error={animal.error} />
      ) : !animal.data ? (
        <Loading />
      ) : (
        <OrderForm key={animal.data.id} animal={animal.data} me={me} />
      )}
    </section>
  );
}

function AnimalPicker(): JSX.Element {
  const [q, setQ] = useState('');
  const [debounced, setDebounced] = useState('');
  useEffect(() => {
    const t = setTimeout(() => setDebounced(q.trim()), 200);
    return () => clearTimeout(t);
  }, [q]);
  const found = useAsync(
    (signal) => (debounced ? get<Page<AnimalRead>>('/animals', { q: debounced, limit: 20 }, signal) : Promise.resolve(undefined)),
    [debounced],
  );
  return (
    <div class="card">
      <Field label="Which animal? (name, owner, microchip or patient ID)" id="order-animal-q">
        <input id="order-animal-q" type="search" autoFocus value={q} autoComplete="off" onInput={(e) => setQ(e.currentTarget.value)} />
      </Field>
      <ErrorBanner error={found.error} />
      {found.data && found.data.items.length === 0 && (
        <Empty>
          No animal matches “{debounced}”. <Link to="/animals/new">Register a new patient</Link>
        </Empty>
      )}
      {found.data && found.data.items.length > 0 && (
        <ul class="pick-list">
          {found.data.items.map((a) => (
            <li key={a.id}>
              <button type="button" onClick={() => navigate(`/orders/new?animal=${a.id}`, true)}>
                <strong>{a.name}</strong> <span class="muted">{[speciesName(a), breedName(a)].filter(Boolean).join(' · ')}</span> ·{' '}
                {a.owners.map(ownerName).join('; ') || 'no owner'} · <span class="mono">{a.patient_id}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function OrderForm({ animal, me }: { animal: AnimalRead; me: ScreenProps['me'] }): JSX.Element {
  const speciesCode = animal.species?.code;
  const procedures = useAsync(
    (signal) => get<ProcedureRead[]>('/procedures', speciesCode ? { species_code: speciesCode } : undefined, signal),
    [speciesCode],
  );
  const [codes, setCodes] = useState<string[]>([]);
  const [priority, setPriority] = useState<Priority>('ROUTINE');
  const [question, setQuestion] = useState('');
  const [vet, setVet] = useState(me.role === 'vet' ? me.display_name || me.username : '');
  const [region, setRegion] = useState('');
  const [laterality, setLaterality] = useState('');
  const [scheduleNow, setScheduleNow] = useState(true);
  const [stationId, setStationId] = useState<number | undefined>(undefined);
  const [day, setDay] = useState(today());
  const [start, setStart] = useState<number | undefined>(undefined);
  const [checked, setChecked] = useState(false);
  const [done, setDone] = useState<{ order: OrderRead; label: LabelData } | undefined>(undefined);
  const key = useRef(new KeyForBody());

  const chosen = (procedures.data ?? []).filter((p) => codes.includes(p.code));
  const modalities = [...new Set(chosen.map((p) => p.modality))];
  const modality = modalities.length === 1 ? modalities[0] : undefined;
  const duration = chosen.reduce((sum, p) => sum + p.duration_minutes, 0);

  const stations = useAsync(
    (signal) => (modality ? get<StationRead[]>('/stations', { modality }, signal) : Promise.resolve([] as StationRead[])),
    [modality],
  );
  useEffect(() => {
    const list = stations.data ?? [];
    if (!list.some((s) => s.id === stationId)) setStationId(list[0]?.id);
  }, [stations.data]);
  const stationDay = useAsync(
    (signal) =>
      stationId && scheduleNow && modality
        ? get<StationDay>(`/stations/${stationId}/day`, { date: day }, signal)
        : Promise.resolve(undefined),
    [stationId, day, scheduleNow, modality],
  );
  const slots = useMemo(() => {
    if (!stationDay.data || !duration) return [];
    return freeSlots(stationDay.data, duration, { every: 15, notBefore: day === today() ? nowMinutes() : undefined });
  }, [stationDay.data, duration, day]);
  useEffect(() => {
    if (start !== undefined && !slots.includes(start)) setStart(undefined);
  }, [slots]);

  const create = useAction((body: Record<string, unknown>) => postIdempotent<OrderRead>('/orders', body, key.current.for(body)));
  const toggle = (code: string, on: boolean): void => {
    setCodes((list) => (on ? [...list, code] : list.filter((c) => c !== code)));
    if (on && !region) setRegion((procedures.data ?? []).find((p) => p.code === code)?.body_region ?? '');
  };

  const problems = {
    procedure_codes: codes.length ? undefined : 'choose at least one procedure',
    schedule:
      scheduleNow && codes.length
        ? modalities.length > 1
          ? 'procedures of different modalities cannot be booked on one station: leave the order unscheduled and book each step on the Schedule screen'
          : !stationId
            ? `no active ${modality} station: leave the order unscheduled`
            : start === undefined
              ? 'choose a start time (or leave the order unscheduled)'
              : undefined
        : undefined,
  };
  const err = (f: 'procedure_codes' | 'schedule'): string | undefined => (checked ? problems[f] : undefined) ?? fieldError(create.error, f);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setChecked(true);
    if (problems.procedure_codes || problems.schedule) {
      document.getElementById(problems.procedure_codes ? 'order-procedures' : 'order-schedule')?.focus();
      return;
    }
    const body: Record<string, unknown> = {
      animal_id: animal.id,
      procedure_codes: codes,
      priority,
      clinical_question: question.trim(),
      requesting_vet: vet.trim(),
      body_region: region,
      laterality,
    };
    if (scheduleNow && stationId && start !== undefined) body.schedule = { station_id: stationId, start: localStart(day, start) };
    const order = await create.run(body);
    if (!order) {
      stationDay.reload(); // a 409 (slot taken meanwhile): show the day as it is now
      return;
    }
    const first = order.steps.find((s) => s.start);
    const station = stations.data?.find((s) => s.id === first?.station_id);
    toast(`Order ${order.accession_number} created`);
    setDone({
      order,
      label: {
        animal: animal.name,
        patientId: animal.patient_id,
        speciesBreed: [speciesName(animal), breedName(animal)].filter(Boolean).join(' · '),
        owner: animal.owners.find((o) => o.is_primary) ? ownerName(animal.owners.find((o) => o.is_primary)!) : animal.owners.map(ownerName).join('; '),
        accession: order.accession_number,
        procedures: order.steps.map((s) => s.procedure_name),
        station: first ? first.station_name ?? station?.name ?? '' : '',
        time: first?.start ? `${first.start.slice(0, 10)} ${hhmm(first.start)}` : '',
        priority: order.priority,
      },
    });
  };

  if (done) {
    return (
      <div class="card order-done" role="status">
        <h2>
          Order created: accession <span class="mono" data-testid="accession">{done.order.accession_number}</span>
        </h2>
        <p>
          Status <strong>{done.order.status.replace(/_/g, ' ')}</strong>.{' '}
          {done.order.steps.map((s) => (
            <span key={s.id}>
              {s.procedure_name}: {s.start ? `${s.station_name ?? ''} ${s.start.slice(0, 10)} ${hhmm(s.start)}` : 'not scheduled'}.{' '}
            </span>
          ))}
        </p>
        <WorklistLabel data={done.label} />
        <div class="row" style={{ marginTop: '1rem' }}>
          <button type="button" class="primary" onClick={() => window.print()}>
            Print label
          </button>
          <Link to={`/animals/${animal.id}`} class="button">
            Back to {animal.name}'s chart
          </Link>
          <Link to={`/schedule?day=${done.order.steps.find((s) => s.start)?.start?.slice(0, 10) ?? today()}`} class="button">
            Open the schedule
          </Link>
        </div>
      </div>
    );
  }

  const groups = byModality(procedures.data ?? []);
  return (
    <form onSubmit={submit} noValidate class="order-form">
      <div class="card picked-animal">
        <strong>{animal.name}</strong>
        <span class="muted">{[speciesName(animal), breedName(animal)].filter(Boolean).join(' · ') || 'species not recorded'}</span>
        <span>{animal.owners.map(ownerName).join('; ')}</span>
        <span class="mono small">{animal.patient_id}</span>
        {animal.alerts && <span class="badge danger">⚠ {animal.alerts}</span>}
        <Link to="/orders/new" class="button small">
          Other animal
        </Link>
      </div>

      <h2 id="order-procedures" tabIndex={-1}>
        Procedures{speciesCode ? ` for ${speciesName(animal).toLowerCase()}s` : ''}
      </h2>
      {err('procedure_codes') && (
        <p class="field-error" role="alert">
          {err('procedure_codes')}
        </p>
      )}
      {procedures.error ? (
        <ErrorBanner error={procedures.error} />
      ) : !procedures.data ? (
        <Loading />
      ) : groups.length === 0 ? (
        <Empty>The catalog has no active procedure for this species (an administrator adds them under Admin).</Empty>
      ) : (
        <div class="proc-groups">
          {groups.map(([m, list]) => (
            <fieldset key={m} class="proc-group">
              <legend>{m}</legend>
              {list.map((p) => (
                <label key={p.code} class="check">
                  <input type="checkbox" value={p.code} checked={codes.includes(p.code)} onChange={(e) => toggle(p.code, e.currentTarget.checked)} />
                  {p.name} <span class="muted small">({p.duration_minutes} min{p.body_region ? `, ${p.body_region}` : ''})</span>
                </label>
              ))}
            </fieldset>
          ))}
        </div>
      )}

      <h2>Request</h2>
      <div class="row">
        <Field label="Priority" id="order-priority">
          <select id="order-priority" value={priority} onChange={(e) => setPriority(e.currentTarget.value as Priority)}>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {p.charAt(0) + p.slice(1).toLowerCase()}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Requesting vet" id="order-vet" error={fieldError(create.error, 'requesting_vet')}>
          <input id="order-vet" value={vet} maxLength={64} onInput={(e) => setVet(e.currentTarget.value)} />
        </Field>
        <Field label="Body region" id="order-region" error={fieldError(create.error, 'body_region')}>
          <input id="order-region" list="order-regions" value={region} maxLength={64} onInput={(e) => setRegion(e.currentTarget.value.toUpperCase())} />
          <datalist id="order-regions">
            {BODY_REGIONS.map((r) => (
              <option key={r} value={r} />
            ))}
          </datalist>
        </Field>
        <Field label="Side" id="order-side" error={fieldError(create.error, 'laterality')}>
          <select id="order-side" value={laterality} onChange={(e) => setLaterality(e.currentTarget.value)}>
            <option value="">Not applicable</option>
            <option value="L">Left</option>
            <option value="R">Right</option>
            <option value="B">Both</option>
          </select>
        </Field>
      </div>
      <Field label="Clinical question" id="order-question" error={fieldError(create.error, 'clinical_question')}>
        <textarea id="order-question" value={question} maxLength={4000} onInput={(e) => setQuestion(e.currentTarget.value)} />
      </Field>

      <h2 id="order-schedule" tabIndex={-1}>
        Schedule
      </h2>
      <div class="row" role="radiogroup" aria-label="Schedule">
        <label class="check">
          <input type="radio" name="sched" checked={scheduleNow} onChange={() => setScheduleNow(true)} /> Book a time now
        </label>
        <label class="check">
          <input type="radio" name="sched" checked={!scheduleNow} onChange={() => setScheduleNow(false)} /> Leave unscheduled
        </label>
      </div>
      {err('schedule') && (
        <p class="field-error" role="alert">
          {err('schedule')}
        </p>
      )}
      {scheduleNow && !codes.length && <p class="muted">Choose the procedures first: the station follows their modality.</p>}
      {scheduleNow && modality && (
        <div class="card">
          <div class="row">
            <Field label={`${modality} station`} id="order-station">
              <select id="order-station" value={stationId ?? ''} onChange={(e) => setStationId(Number(e.currentTarget.value) || undefined)}>
                {(stations.data ?? []).length === 0 && <option value="">No {modality} station</option>}
                {stations.data?.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                    {s.location ? ` (${s.location})` : ''}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Day" id="order-day">
              <input id="order-day" type="date" min={today()} value={day} onInput={(e) => e.currentTarget.value && setDay(e.currentTarget.value)} />
            </Field>
            <div class="field">
              <span class="muted small">Duration {duration} min</span>
            </div>
          </div>
          <ErrorBanner error={stations.error ?? stationDay.error} />
          {stationDay.data && (
            <>
              <p class="small">
                {stationDay.data.always_open
                  ? 'Open all day.'
                  : stationDay.data.opening_hours.length
                    ? `Open ${stationDay.data.opening_hours.map(([a, b]) => `${a}–${b}`).join(', ')}.`
                    : 'Closed that day.'}{' '}
                {stationDay.data.entries.length
                  ? `${stationDay.data.entries.length} booking${stationDay.data.entries.length === 1 ? '' : 's'}:`
                  : 'No bookings yet.'}
              </p>
              {stationDay.data.entries.length > 0 && (
                <ul class="bookings">
                  {stationDay.data.entries.map((e) => (
                    <li key={e.step.id}>
                      {hhmm(e.step.start)}–{hhmm(e.step.end)} {e.animal_name} · {e.step.procedure_name} <span class="mono muted">{e.accession_number}</span>
                    </li>
                  ))}
                </ul>
              )}
              <div class="field">
                <span id="slots-label" class="small">
                  <strong>Free start times</strong> ({duration} min)
                </span>
                {slots.length === 0 ? (
                  <p class="empty">No free time that day: try another day or station.</p>
                ) : (
                  <div class="slots" role="group" aria-labelledby="slots-label">
                    {slots.map((m) => (
                      <button key={m} type="button" class="small slot" aria-pressed={start === m} onClick={() => setStart(m)}>
                        {fmtMinutes(m)}
                      </button>
                    ))}
                  </div>
                )}
              </div>
            </>
          )}
        </div>
      )}
      <ErrorBanner error={create.error} />
      <div class="row" style={{ marginTop: '1rem' }}>
        <button type="submit" class="primary" id="order-submit" disabled={create.busy}>
          {create.busy ? 'Creating…' : scheduleNow && start !== undefined ? `Create order and book ${fmtMinutes(start)}` : 'Create order'}
        </button>
      </div>
    </form>
  );
}
