/** Form pieces shared by the chart's edit form and registration: species and breed, sex and neuter status. */
import type { JSX } from 'preact';
import { get } from './api';
import type { BreedRead, SpeciesRead } from './chart-model';
import { Field, useAsync } from './ui';

export interface SpeciesBreedValue {
  species_code: string;
  breed_code: string;
  breed_text: string;
}

/** Species select (GET /species), breed select of that species, and a free-text breed. */
export function SpeciesBreedFields(props: {
  value: SpeciesBreedValue;
  onChange: (v: SpeciesBreedValue) => void;
  errors: { species?: string; breed?: string; breed_text?: string };
  idPrefix: string;
}): JSX.Element {
  const { value, onChange, errors, idPrefix } = props;
  const species = useAsync((signal) => get<SpeciesRead[]>('/species', undefined, signal), []);
  const chosen = species.data?.find((s) => s.code === value.species_code);
  const breeds = useAsync(
    (signal) => (chosen ? get<BreedRead[]>(`/species/${chosen.id}/breeds`, undefined, signal) : Promise.resolve([])),
    [chosen?.id],
  );
  return (
    <div class="row">
      <Field label="Species" id={`${idPrefix}-species`} error={errors.species ?? (species.error ? String(species.error) : undefined)}>
        <select
          id={`${idPrefix}-species`}
          value={value.species_code}
          onChange={(e) => onChange({ ...value, species_code: e.currentTarget.value, breed_code: '' })}
        >
          <option value="">{species.loading ? 'Loading…' : 'Choose…'}</option>
          {species.data?.map((s) => (
            <option key={s.id} value={s.code}>
              {s.common_name && s.common_name.toLowerCase() !== s.name.toLowerCase() ? `${s.name} (${s.common_name})` : s.name}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Breed" id={`${idPrefix}-breed`} error={errors.breed}>
        <select
          id={`${idPrefix}-breed`}
          value={value.breed_code}
          disabled={!chosen}
          onChange={(e) => onChange({ ...value, breed_code: e.currentTarget.value })}
        >
          <option value="">{chosen ? (breeds.data?.length ? 'Not in the list / unknown' : 'No breeds listed') : 'Choose a species first'}</option>
          {breeds.data?.map((b) => (
            <option key={b.id} value={b.code}>
              {b.name}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Breed (free text)" id={`${idPrefix}-breed-text`} error={errors.breed_text} hint="e.g. Labrador cross">
        <input
          id={`${idPrefix}-breed-text`}
          value={value.breed_text}
          maxLength={64}
          onInput={(e) => onChange({ ...value, breed_text: e.currentTarget.value })}
        />
      </Field>
    </div>
  );
}

export function SexNeuterFields(props: {
  sex: string;
  neuter: string;
  onSex: (v: string) => void;
  onNeuter: (v: string) => void;
  errors: { sex?: string; neuter_status?: string };
  idPrefix: string;
}): JSX.Element {
  return (
    <div class="row">
      <Field label="Sex" id={`${props.idPrefix}-sex`} error={props.errors.sex}>
        <select id={`${props.idPrefix}-sex`} value={props.sex} onChange={(e) => props.onSex(e.currentTarget.value)}>
          <option value="F">Female</option>
          <option value="M">Male</option>
          <option value="O">Unknown / other</option>
        </select>
      </Field>
      <Field label="Neutered" id={`${props.idPrefix}-neuter`} error={props.errors.neuter_status}>
        <select id={`${props.idPrefix}-neuter`} value={props.neuter} onChange={(e) => props.onNeuter(e.currentTarget.value)}>
          <option value="">Unknown</option>
          <option value="ALTERED">Yes (neutered / spayed)</option>
          <option value="UNALTERED">No (entire)</option>
        </select>
      </Field>
    </div>
  );
}
