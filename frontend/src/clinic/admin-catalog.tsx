/**
 * Administration: modality units and rooms (stations, with AE title and opening hours), the
 * procedure catalog, and the species and breed vocabulary. Reading needs orders:read (the
 * vocabulary patients:read), writing system:manage; the server checks every value and its field
 * errors are shown beside the fields.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { FormError } from './admin-kit';
import { conflictMessage, fieldMessage, formToHours, hoursSummary, hoursToForm, WEEKDAY_NAMES, WEEKDAYS, type OpeningHours, type Weekday } from './admin-model';
import { get, patch, post } from './api';
import type { SpeciesRead } from './chart-model';
import type { ProcedureRead } from './order-model';
import { Empty, ErrorBanner, Field, Loading, useAction, useAsync } from './ui';

// ------------------------------------------------------------------ stations

interface Station {
  id: number;
  name: string;
  ae_title: string;
  station_name: string;
  modality: string;
  location: string;
  opening_hours: OpeningHours;
  active: boolean;
}

function StationForm(props: { station?: Station; onSaved: () => void; onCancel?: () => void }): JSX.Element {
  const s = props.station;
  const prefix = s ? `station-${s.id}` : 'station-new';
  const [form, setForm] = useState({
    name: s?.name ?? '',
    ae_title: s?.ae_title ?? '',
    station_name: s?.station_name ?? '',
    modality: s?.modality ?? 'DX',
    location: s?.location ?? '',
    active: s?.active ?? true,
  });
  const [hours, setHours] = useState(() => hoursToForm(s?.opening_hours ?? { mon: [['08:00', '18:00']], tue: [['08:00', '18:00']], wed: [['08:00', '18:00']], thu: [['08:00', '18:00']], fri: [['08:00', '18:00']] }));
  const [dayErrors, setDayErrors] = useState<Partial<Record<Weekday, string>>>({});
  const save = useAction(
    (body: Record<string, unknown>) => (s ? patch<Station>(`/stations/${s.id}`, body) : post<Station>('/stations', body)),
    (r) => `Station ${r.name} ${s ? 'saved' : 'added'}`,
  );
  const set = (key: keyof typeof form) => (e: Event) => {
    const el = e.target as HTMLInputElement;
    setForm({ ...form, [key]: el.type === 'checkbox' ? el.checked : el.value });
  };
  const err = (field: string): string | undefined => fieldMessage(save.error, field);
  return (
    <form
      class="card admin-form"
      noValidate
      aria-label={s ? `Edit ${s.name}` : 'Add a station'}
      onSubmit={async (e) => {
        e.preventDefault();
        const parsed = formToHours(hours);
        setDayErrors(parsed.errors);
        if (Object.keys(parsed.errors).length) return;
        const body = { ...form, modality: form.modality.trim(), ae_title: form.ae_title.trim(), opening_hours: parsed.hours };
        if (await save.run(body)) {
          if (!s) {
            setForm({ ...form, name: '', ae_title: '', station_name: '', location: '' });
          }
          props.onSaved();
        }
      }}
    >
      {!s && <h2>Add a modality unit or room</h2>}
      <div class="row">
        <Field label="Name" id={`${prefix}-name`} error={err('name') || (conflictMessage(save.error) ?? undefined)} hint="e.g. X-ray room 1">
          <input id={`${prefix}-name`} value={form.name} onInput={set('name')} required />
        </Field>
        <Field label="Modality" id={`${prefix}-modality`} error={err('modality')} hint="DX, CR, US, CT, MR, IO…">
          <input id={`${prefix}-modality`} value={form.modality} onInput={set('modality')} required list="modality-codes" />
        </Field>
        <Field label="AE title" id={`${prefix}-ae`} error={err('ae_title')} hint="The unit's DICOM AE title (asks the worklist)">
          <input id={`${prefix}-ae`} value={form.ae_title} onInput={set('ae_title')} required maxLength={16} class="mono" />
        </Field>
        <Field label="Station name" id={`${prefix}-sn`} error={err('station_name')} hint="Scheduled Station Name, optional">
          <input id={`${prefix}-sn`} value={form.station_name} onInput={set('station_name')} maxLength={16} />
        </Field>
        <Field label="Room" id={`${prefix}-room`} error={err('location')}>
          <input id={`${prefix}-room`} value={form.location} onInput={set('location')} />
        </Field>
      </div>
      <fieldset class="hours">
        <legend>Opening hours</legend>
        <label class="check">
          <input type="checkbox" checked={hours.alwaysOpen} onChange={(e) => setHours({ ...hours, alwaysOpen: (e.target as HTMLInputElement).checked })} />{' '}
          Always open (no hours)
        </label>
        {!hours.alwaysOpen && (
          <div class="row">
            {WEEKDAYS.map((d) => (
              <Field key={d} label={WEEKDAY_NAMES[d]} id={`${prefix}-${d}`} error={dayErrors[d]} hint="e.g. 08:00-12:00, 13:00-17:00; empty: closed">
                <input
                  id={`${prefix}-${d}`}
                  value={hours.days[d]}
                  onInput={(e) => setHours({ ...hours, days: { ...hours.days, [d]: (e.target as HTMLInputElement).value } })}
                />
              </Field>
            ))}
          </div>
        )}
        {err('opening_hours') && (
          <small class="field-error" role="alert">
            {err('opening_hours')}
          </small>
        )}
      </fieldset>
      <label class="check">
        <input type="checkbox" checked={form.active} onChange={set('active')} /> Active (bookable)
      </label>
      <div class="row">
        <button type="submit" class="primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : s ? 'Save' : 'Add station'}
        </button>
        <FormError error={save.error} />
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

const MODALITY_CODES = ['DX', 'CR', 'US', 'CT', 'MR', 'IO', 'XA', 'RF', 'NM', 'PT', 'ES', 'OT'];

function ModalityCodes(): JSX.Element {
  return (
    <datalist id="modality-codes">
      {MODALITY_CODES.map((m) => (
        <option key={m} value={m} />
      ))}
    </datalist>
  );
}

export function StationsSection(): JSX.Element {
  const stations = useAsync((signal) => get<Station[]>('/stations', { include_inactive: true }, signal), []);
  const [editing, setEditing] = useState<number | undefined>(undefined);
  return (
    <>
      <h1>Modality units and rooms</h1>
      <ModalityCodes />
      <StationForm onSaved={stations.reload} />
      <ErrorBanner error={stations.error} />
      {!stations.data && stations.loading && <Loading />}
      {stations.data && stations.data.length === 0 && <Empty>No stations yet: add the first one above.</Empty>}
      {stations.data && stations.data.length > 0 && (
        <table class="admin-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Modality</th>
              <th>AE title</th>
              <th>Room</th>
              <th>Opening hours</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {stations.data.map((s) =>
              editing === s.id ? (
                <tr key={s.id}>
                  <td colSpan={7}>
                    <StationForm
                      station={s}
                      onSaved={() => {
                        setEditing(undefined);
                        stations.reload();
                      }}
                      onCancel={() => setEditing(undefined)}
                    />
                  </td>
                </tr>
              ) : (
                <tr key={s.id} data-station={s.name}>
                  <td>
                    <strong>{s.name}</strong>
                    {s.station_name && <div class="muted small">{s.station_name}</div>}
                  </td>
                  <td>{s.modality}</td>
                  <td class="mono">{s.ae_title}</td>
                  <td>{s.location || '—'}</td>
                  <td>{hoursSummary(s.opening_hours)}</td>
                  <td>{s.active ? <span class="badge ok">active</span> : <span class="badge">inactive</span>}</td>
                  <td>
                    <button type="button" onClick={() => setEditing(s.id)}>
                      Edit
                    </button>
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      )}
    </>
  );
}

// ------------------------------------------------------------------ procedures

type Procedure = ProcedureRead;

type Species = SpeciesRead;

const list = (text: string): string[] =>
  text
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

function ProcedureForm(props: { procedure?: Procedure; species: Species[]; onSaved: () => void; onCancel?: () => void }): JSX.Element {
  const p = props.procedure;
  const prefix = p ? `proc-${p.id}` : 'proc-new';
  const [form, setForm] = useState({
    code: p?.code ?? '',
    name: p?.name ?? '',
    modality: p?.modality ?? 'DX',
    body_region: p?.body_region ?? '',
    default_views: (p?.default_views ?? []).join(', '),
    duration_minutes: String(p?.duration_minutes ?? 15),
    fee_code: p?.fee_code ?? '',
    active: p?.active ?? true,
  });
  const [species, setSpecies] = useState<string[]>(p?.species_codes ?? []);
  const save = useAction(
    (body: Record<string, unknown>) => (p ? patch<Procedure>(`/procedures/${p.id}`, body) : post<Procedure>('/procedures', body)),
    (r) => `Procedure ${r.code} ${p ? 'saved' : 'added'}`,
  );
  const set = (key: keyof typeof form) => (e: Event) => {
    const el = e.target as HTMLInputElement;
    setForm({ ...form, [key]: el.type === 'checkbox' ? el.checked : el.value });
  };
  const err = (field: string): string | undefined => fieldMessage(save.error, field);
  return (
    <form
      class="card admin-form"
      noValidate
      aria-label={p ? `Edit ${p.code}` : 'Add a procedure'}
      onSubmit={async (e) => {
        e.preventDefault();
        const body: Record<string, unknown> = {
          name: form.name.trim(),
          modality: form.modality.trim(),
          body_region: form.body_region.trim(),
          default_views: list(form.default_views),
          species_codes: species,
          duration_minutes: form.duration_minutes === '' ? null : Number(form.duration_minutes),
          fee_code: form.fee_code.trim(),
          active: form.active,
        };
        if (!p) body.code = form.code.trim();
        if (await save.run(body)) {
          if (!p) setForm({ ...form, code: '', name: '', body_region: '', default_views: '', fee_code: '' });
          props.onSaved();
        }
      }}
    >
      {!p && <h2>Add a procedure</h2>}
      <div class="row">
        {!p && (
          <Field label="Code" id={`${prefix}-code`} error={err('code') || conflictMessage(save.error)} hint="e.g. DX-THX2">
            <input id={`${prefix}-code`} value={form.code} onInput={set('code')} required maxLength={16} class="mono" />
          </Field>
        )}
        <Field label="Name" id={`${prefix}-name`} error={err('name')} hint="e.g. Thorax, 2 views">
          <input id={`${prefix}-name`} value={form.name} onInput={set('name')} required maxLength={64} />
        </Field>
        <Field label="Modality" id={`${prefix}-modality`} error={err('modality')} hint="DX, US, CT…">
          <input id={`${prefix}-modality`} value={form.modality} onInput={set('modality')} required list="modality-codes" />
        </Field>
        <Field label="Body region" id={`${prefix}-region`} error={err('body_region')} hint="e.g. CHEST">
          <input id={`${prefix}-region`} value={form.body_region} onInput={set('body_region')} />
        </Field>
        <Field label="Default views" id={`${prefix}-views`} error={err('default_views')} hint="Comma-separated, e.g. R-L lateral, VD">
          <input id={`${prefix}-views`} value={form.default_views} onInput={set('default_views')} />
        </Field>
        <Field label="Duration (minutes)" id={`${prefix}-duration`} error={err('duration_minutes')}>
          <input id={`${prefix}-duration`} type="number" min={1} max={1440} value={form.duration_minutes} onInput={set('duration_minutes')} />
        </Field>
        <Field label="Fee code" id={`${prefix}-fee`} error={err('fee_code')} hint="The fee list's code, optional">
          <input id={`${prefix}-fee`} value={form.fee_code} onInput={set('fee_code')} maxLength={32} />
        </Field>
      </div>
      <fieldset>
        <legend>Species (none ticked: every species)</legend>
        <div class="checks">
          {props.species.map((sp) => (
            <label key={sp.code} class="check">
              <input
                type="checkbox"
                checked={species.includes(sp.code)}
                onChange={(e) => {
                  const on = (e.target as HTMLInputElement).checked;
                  setSpecies(on ? [...species, sp.code] : species.filter((c) => c !== sp.code));
                }}
              />{' '}
              {sp.name}
            </label>
          ))}
        </div>
        {err('species_codes') && (
          <small class="field-error" role="alert">
            {err('species_codes')}
          </small>
        )}
      </fieldset>
      <label class="check">
        <input type="checkbox" checked={form.active} onChange={set('active')} /> Active (can be ordered)
      </label>
      <div class="row">
        <button type="submit" class="primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : p ? 'Save' : 'Add procedure'}
        </button>
        <FormError error={save.error} />
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

export function ProceduresSection(): JSX.Element {
  const procedures = useAsync((signal) => get<Procedure[]>('/procedures', { include_inactive: true }, signal), []);
  const species = useAsync((signal) => get<Species[]>('/species', undefined, signal), []);
  const [editing, setEditing] = useState<number | undefined>(undefined);
  const [filter, setFilter] = useState('');
  const speciesName = (code: string): string => species.data?.find((s) => s.code === code)?.name ?? code;
  const shown = (procedures.data ?? []).filter(
    (p) => !filter || `${p.code} ${p.name} ${p.modality} ${p.body_region}`.toLowerCase().includes(filter.toLowerCase()),
  );
  return (
    <>
      <h1>Procedure catalog</h1>
      <ModalityCodes />
      <ErrorBanner error={species.error} />
      <ProcedureForm species={species.data ?? []} onSaved={procedures.reload} />
      <ErrorBanner error={procedures.error} />
      {!procedures.data && procedures.loading && <Loading />}
      {procedures.data && (
        <>
          <div class="row">
            <Field label="Filter" id="proc-filter">
              <input id="proc-filter" type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
            </Field>
          </div>
          {shown.length === 0 ? (
            <Empty>{procedures.data.length ? 'No procedure matches the filter.' : 'The catalog is empty: add a procedure above.'}</Empty>
          ) : (
            <table class="admin-table">
              <thead>
                <tr>
                  <th>Code</th>
                  <th>Name</th>
                  <th>Modality</th>
                  <th>Region / views</th>
                  <th>Species</th>
                  <th>Minutes</th>
                  <th>Fee code</th>
                  <th>Status</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {shown.map((p) =>
                  editing === p.id ? (
                    <tr key={p.id}>
                      <td colSpan={9}>
                        <h2>Edit {p.code}</h2>
                        <ProcedureForm
                          procedure={p}
                          species={species.data ?? []}
                          onSaved={() => {
                            setEditing(undefined);
                            procedures.reload();
                          }}
                          onCancel={() => setEditing(undefined)}
                        />
                      </td>
                    </tr>
                  ) : (
                    <tr key={p.id} data-procedure={p.code}>
                      <td class="mono">{p.code}</td>
                      <td>{p.name}</td>
                      <td>{p.modality}</td>
                      <td>
                        {p.body_region || '—'}
                        {p.default_views.length > 0 && <div class="muted small">{p.default_views.join(', ')}</div>}
                      </td>
                      <td>{p.species_codes.length ? p.species_codes.map(speciesName).join(', ') : 'all'}</td>
                      <td>{p.duration_minutes}</td>
                      <td>{p.fee_code || '—'}</td>
                      <td>{p.active ? <span class="badge ok">active</span> : <span class="badge">retired</span>}</td>
                      <td>
                        <button type="button" onClick={() => setEditing(p.id)}>
                          Edit
                        </button>
                      </td>
                    </tr>
                  ),
                )}
              </tbody>
            </table>
          )}
        </>
      )}
    </>
  );
}

// ------------------------------------------------------------------ species and breeds

interface Breed {
  id: number;
  species_id: number;
  code: string;
  coding_scheme: string;
  name: string;
  active: boolean;
}

function AddCoded(props: {
  title: string;
  prefix: string;
  extra?: boolean;
  submit: (body: Record<string, string>) => Promise<unknown>;
  done: string;
  onAdded: () => void;
}): JSX.Element {
  const empty = { code: '', coding_scheme: '99VETPACS', name: '', common_name: '', latin_name: '' };
  const [form, setForm] = useState(empty);
  const add = useAction((body: Record<string, string>) => props.submit(body), props.done);
  const set = (key: keyof typeof empty) => (e: Event) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value });
  const err = (f: string): string | undefined => fieldMessage(add.error, f);
  const id = props.prefix;
  return (
    <form
      class="card admin-form"
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        const body: Record<string, string> = { code: form.code.trim(), coding_scheme: form.coding_scheme.trim(), name: form.name.trim() };
        if (props.extra) {
          body.common_name = form.common_name.trim();
          body.latin_name = form.latin_name.trim();
        }
        if ((await add.run(body)) !== undefined) {
          setForm(empty);
          props.onAdded();
        }
      }}
    >
      <h2>{props.title}</h2>
      <div class="row">
        <Field label="Name" id={`${id}-name`} error={err('name') || conflictMessage(add.error)}>
          <input id={`${id}-name`} value={form.name} onInput={set('name')} required />
        </Field>
        <Field label="Code" id={`${id}-code`} error={err('code')} hint="SNOMED CT code, or your own">
          <input id={`${id}-code`} value={form.code} onInput={set('code')} required class="mono" />
        </Field>
        <Field label="Coding scheme" id={`${id}-scheme`} error={err('coding_scheme')} hint="SCT for SNOMED CT">
          <input id={`${id}-scheme`} value={form.coding_scheme} onInput={set('coding_scheme')} class="mono" />
        </Field>
        {props.extra && (
          <>
            <Field label="Common name" id={`${id}-common`} error={err('common_name')} hint="e.g. dog">
              <input id={`${id}-common`} value={form.common_name} onInput={set('common_name')} />
            </Field>
            <Field label="Latin name" id={`${id}-latin`} error={err('latin_name')}>
              <input id={`${id}-latin`} value={form.latin_name} onInput={set('latin_name')} />
            </Field>
          </>
        )}
      </div>
      <button type="submit" class="primary" disabled={add.busy}>
        {add.busy ? 'Adding…' : 'Add'}
      </button>
      <FormError error={add.error} />
    </form>
  );
}

function Breeds({ species }: { species: Species }): JSX.Element {
  const breeds = useAsync((signal) => get<Breed[]>(`/species/${species.id}/breeds`, undefined, signal), [species.id]);
  return (
    <section aria-labelledby="breeds-title">
      <h2 id="breeds-title">Breeds of {species.name}</h2>
      <ErrorBanner error={breeds.error} />
      {!breeds.data && breeds.loading && <Loading />}
      {breeds.data && breeds.data.length === 0 && <Empty>No breeds yet.</Empty>}
      {breeds.data && breeds.data.length > 0 && (
        <ul class="breed-list">
          {breeds.data.map((b) => (
            <li key={b.id}>
              {b.name} <span class="muted small mono">{b.coding_scheme} {b.code}</span>
            </li>
          ))}
        </ul>
      )}
      <AddCoded
        title={`Add a breed of ${species.name}`}
        prefix="breed-new"
        submit={(body) => post(`/species/${species.id}/breeds`, body)}
        done="Breed added"
        onAdded={breeds.reload}
      />
    </section>
  );
}

export function SpeciesSection(): JSX.Element {
  const species = useAsync((signal) => get<Species[]>('/species', undefined, signal), []);
  const [chosen, setChosen] = useState<number | undefined>(undefined);
  const current = species.data?.find((s) => s.id === chosen) ?? species.data?.[0];
  return (
    <>
      <h1>Species and breeds</h1>
      <ErrorBanner error={species.error} />
      {!species.data && species.loading && <Loading />}
      {species.data && (
        <div class="split">
          <div>
            <table class="admin-table">
              <thead>
                <tr>
                  <th>Species</th>
                  <th>Code</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {species.data.map((s) => (
                  <tr key={s.id} aria-current={current?.id === s.id ? 'true' : undefined}>
                    <td>
                      <strong>{s.name}</strong>
                      <div class="muted small">{[s.common_name, s.latin_name && <i>{s.latin_name}</i>].filter(Boolean).map((x, i) => <span key={i}>{i ? ' · ' : ''}{x}</span>)}</div>
                    </td>
                    <td class="mono small">
                      {s.coding_scheme} {s.code}
                    </td>
                    <td>
                      <button type="button" aria-pressed={current?.id === s.id} onClick={() => setChosen(s.id)}>
                        Breeds
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <AddCoded title="Add a species" prefix="species-new" extra submit={(body) => post('/species', body)} done="Species added" onAdded={species.reload} />
          </div>
          <div>{current ? <Breeds key={current.id} species={current} /> : <Empty>No species yet.</Empty>}</div>
        </div>
      )}
    </>
  );
}
