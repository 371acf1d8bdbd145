/** The chart's inline edit form: validated on the client, the server's 422 field errors beside the fields, PATCH of the changed fields only. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { patch } from './api';
import { SexNeuterFields, SpeciesBreedFields } from './chart-fields';
import { type AnimalRead, birthDateError, microchipError, parseWeight, weightError } from './chart-model';
import { ErrorBanner, Field, fieldError, isoDate, today, useAction } from './ui';

interface Form {
  name: string;
  species_code: string;
  breed_code: string;
  breed_text: string;
  sex: string;
  neuter_status: string;
  birth_date: string;
  birth_date_estimated: boolean;
  weight: string;
  colour: string;
  microchip: string;
  external_id: string;
  alerts: string;
  deceased: boolean;
}

function formOf(a: AnimalRead): Form {
  return {
    name: a.name,
    species_code: a.species?.code ?? '',
    breed_code: a.breed?.code ?? '',
    breed_text: a.breed_text,
    sex: a.sex,
    neuter_status: a.neuter_status,
    birth_date: isoDate(a.birth_date),
    birth_date_estimated: a.birth_date_estimated,
    weight: a.weight_kg === null ? '' : String(a.weight_kg),
    colour: a.colour,
    microchip: a.microchip,
    external_id: a.external_id,
    alerts: a.alerts,
    deceased: a.deceased,
  };
}

function validate(f: Form): Record<string, string | undefined> {
  return {
    name: f.name.trim() ? undefined : 'the animal needs a name',
    birth_date: birthDateError(f.birth_date, today()),
    weight_kg: weightError(f.weight),
    microchip: microchipError(f.microchip),
  };
}

export function AnimalEditForm(props: { animal: AnimalRead; onSaved: (a: AnimalRead) => void; onCancel: () => void }): JSX.Element {
  const initial = formOf(props.animal);
  const [form, setForm] = useState<Form>(initial);
  const [checked, setChecked] = useState(false);
  const save = useAction((body: Record<string, unknown>) => patch<AnimalRead>(`/animals/${props.animal.id}`, body), 'Patient saved');
  const local = checked ? validate(form) : {};
  const err = (field: string): string | undefined => local[field] ?? fieldError(save.error, field);
  const set = <K extends keyof Form>(key: K, value: Form[K]): void => setForm((f) => ({ ...f, [key]: value }));

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setChecked(true);
    const problems = validate(form);
    const first = Object.entries(problems).find(([, v]) => v);
    if (first) {
      document.getElementById(`edit-${first[0] === 'weight_kg' ? 'weight' : first[0].replace('_', '-')}`)?.focus();
      return;
    }
    const body: Record<string, unknown> = {};
    const changed = <K extends keyof Form>(k: K): boolean => form[k] !== initial[k];
    for (const k of ['name', 'sex', 'neuter_status', 'birth_date_estimated', 'colour', 'microchip', 'external_id', 'alerts', 'deceased', 'breed_text'] as const) {
      if (changed(k)) body[k] = typeof form[k] === 'string' ? (form[k] as string).trim() : form[k];
    }
    if (changed('species_code')) body.species_code = form.species_code;
    if (changed('breed_code') || changed('species_code')) body.breed_code = form.breed_code;
    if (changed('birth_date')) body.birth_date = form.birth_date;
    if (changed('weight')) {
      const w = parseWeight(form.weight);
      if (w === null) {
        setChecked(true);
        return;
      }
      body.weight_kg = w;
    }
    if (Object.keys(body).length === 0) {
      props.onCancel();
      return;
    }
    const saved = await save.run(body);
    if (saved) props.onSaved(saved);
  };

  return (
    <form class="card edit-form" onSubmit={submit} noValidate aria-label="Edit patient">
      <h2>Edit patient</h2>
      <div class="row">
        <Field label="Name" id="edit-name" error={err('name')}>
          <input id="edit-name" value={form.name} maxLength={64} required onInput={(e) => set('name', e.currentTarget.value)} />
        </Field>
        <Field label="PMS patient id" id="edit-external-id" error={err('external_id')}>
          <input id="edit-external-id" value={form.external_id} maxLength={64} onInput={(e) => set('external_id', e.currentTarget.value)} />
        </Field>
      </div>
      <SpeciesBreedFields
        idPrefix="edit"
        value={form}
        onChange={(v) => setForm((f) => ({ ...f, ...v }))}
        errors={{ species: err('species_code'), breed: err('breed_code'), breed_text: err('breed_text') }}
      />
      <SexNeuterFields
        idPrefix="edit"
        sex={form.sex}
        neuter={form.neuter_status}
        onSex={(v) => set('sex', v)}
        onNeuter={(v) => set('neuter_status', v)}
        errors={{ sex: err('sex'), neuter_status: err('neuter_status') }}
      />
      <div class="row">
        <Field label="Birth date" id="edit-birth-date" error={err('birth_date')}>
          <input id="edit-birth-date" type="date" max={today()} value={form.birth_date} onInput={(e) => set('birth_date', e.currentTarget.value)} />
        </Field>
        <label class="check">
          <input type="checkbox" checked={form.birth_date_estimated} onChange={(e) => set('birth_date_estimated', e.currentTarget.checked)} />
          Estimated
        </label>
        <Field label="Weight (kg)" id="edit-weight" error={err('weight_kg')}>
          <input id="edit-weight" inputMode="decimal" value={form.weight} onInput={(e) => set('weight', e.currentTarget.value)} />
        </Field>
        <Field label="Colour" id="edit-colour" error={err('colour')}>
          <input id="edit-colour" value={form.colour} maxLength={64} onInput={(e) => set('colour', e.currentTarget.value)} />
        </Field>
        <Field label="Microchip" id="edit-microchip" error={err('microchip')}>
          <input id="edit-microchip" class="mono" value={form.microchip} maxLength={64} onInput={(e) => set('microchip', e.currentTarget.value)} />
        </Field>
      </div>
      <Field label="Alerts (shown on every screen: bites, allergies, sedation notes)" id="edit-alerts" error={err('alerts')}>
        <textarea id="edit-alerts" value={form.alerts} maxLength={4000} onInput={(e) => set('alerts', e.currentTarget.value)} />
      </Field>
      <label class="check">
        <input type="checkbox" checked={form.deceased} onChange={(e) => set('deceased', e.currentTarget.checked)} />
        Deceased
      </label>
      <ErrorBanner error={save.error} />
      <div class="row">
        <button type="submit" class="primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : 'Save'}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
