/**
 * Register (/animals/new): an owner (new, or an existing one found by search) and the animal in one
 * form. Client checks first, then the server's 422 field errors beside the fields. The owner is
 * created first, then the animal (both with an Idempotency-Key, so a retry after a lost answer
 * does not register twice); a created owner is kept if the animal then fails.
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get } from '../api';
import { SexNeuterFields, SpeciesBreedFields } from '../chart-fields';
import {
  type AnimalRead,
  KeyForBody,
  type OwnerRead,
  type Page,
  birthDateError,
  birthDateFromAge,
  emailError,
  microchipError,
  ownerName,
  parseWeight,
  postIdempotent,
  weightError,
} from '../chart-model';
import { navigate } from '../router';
import type { ScreenProps } from '../screen';
import { ErrorBanner, Field, today, toast, toastError, useAsync } from '../ui';

interface OwnerForm {
  family_name: string;
  given_name: string;
  phone: string;
  email: string;
  address_line: string;
  postal_code: string;
  city: string;
}

interface AnimalForm {
  name: string;
  species_code: string;
  breed_code: string;
  breed_text: string;
  sex: string;
  neuter_status: string;
  age_mode: 'date' | 'age';
  birth_date: string;
  age_years: string;
  age_months: string;
  weight: string;
  colour: string;
  microchip: string;
  external_id: string;
  alerts: string;
}

type Errors = Record<string, string | undefined>;

const blankOwner: OwnerForm = { family_name: '', given_name: '', phone: '', email: '', address_line: '', postal_code: '', city: '' };
const blankAnimal: AnimalForm = {
  name: '',
  species_code: '',
  breed_code: '',
  breed_text: '',
  sex: 'F',
  neuter_status: '',
  age_mode: 'date',
  birth_date: '',
  age_years: '',
  age_months: '',
  weight: '',
  colour: '',
  microchip: '',
  external_id: '',
  alerts: '',
};

function checkOwner(o: OwnerForm): Errors {
  return {
    family_name: o.family_name.trim() ? undefined : "the owner's family name is required",
    email: emailError(o.email),
    phone: o.phone.trim() && !/^[+\d][\d\s()./-]{3,31}$/.test(o.phone.trim()) ? 'digits, spaces and + ( ) - only' : undefined,
  };
}

function checkAnimal(a: AnimalForm): Errors {
  const years = a.age_years.trim() ? Number(a.age_years) : 0;
  const months = a.age_months.trim() ? Number(a.age_months) : 0;
  let age: string | undefined;
  if (a.age_mode === 'age') {
    if (!a.age_years.trim() && !a.age_months.trim()) age = 'give an age in years and/or months';
    else if (!Number.isInteger(years) || years < 0 || years > 60) age = 'years: a whole number from 0 to 60';
    else if (!Number.isInteger(months) || months < 0 || months > 11) age = 'months: a whole number from 0 to 11';
  }
  return {
    name: a.name.trim() ? undefined : 'the animal needs a name',
    birth_date: a.age_mode === 'date' ? birthDateError(a.birth_date, today()) : undefined,
    age,
    weight_kg: weightError(a.weight),
    microchip: microchipError(a.microchip),
  };
}

const FIELD_IDS: Record<string, string> = {
  family_name: 'reg-family',
  email: 'reg-email',
  phone: 'reg-phone',
  name: 'reg-name',
  birth_date: 'reg-birth',
  age: 'reg-age-years',
  weight_kg: 'reg-weight',
  microchip: 'reg-microchip',
};

export function RegisterScreen(_props: ScreenProps): JSX.Element {
  const [ownerMode, setOwnerMode] = useState<'new' | 'existing'>('new');
  const [owner, setOwner] = useState<OwnerForm>(blankOwner);
  const [picked, setPicked] = useState<OwnerRead | undefined>(undefined);
  const [created, setCreated] = useState<OwnerRead | undefined>(undefined); // owner made by an earlier attempt
  const [animal, setAnimal] = useState<AnimalForm>(blankAnimal);
  const [checked, setChecked] = useState(false);
  const [busy, setBusy] = useState(false);
  const [ownerError, setOwnerError] = useState<unknown>(undefined);
  const [animalError, setAnimalError] = useState<unknown>(undefined);
  const ownerKey = useRef(new KeyForBody());
  const animalKey = useRef(new KeyForBody());

  const ownerLocal = checked && ownerMode === 'new' && !created ? checkOwner(owner) : {};
  const animalLocal = checked ? checkAnimal(animal) : {};
  const server = (err: unknown, f: string): string | undefined => (err instanceof ApiError ? err.fieldError(f) : undefined);
  const oErr = (f: string): string | undefined => ownerLocal[f] ?? server(ownerError, f);
  const aErr = (f: string): string | undefined => animalLocal[f] ?? server(animalError, f);
  const setO = (k: keyof OwnerForm, v: string): void => setOwner((o) => ({ ...o, [k]: v }));
  const setA = <K extends keyof AnimalForm>(k: K, v: AnimalForm[K]): void => setAnimal((a) => ({ ...a, [k]: v }));

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setChecked(true);
    const problems = {
      ...(ownerMode === 'new' && !created ? checkOwner(owner) : {}),
      ...checkAnimal(animal),
      ...(ownerMode === 'existing' && !picked ? { owner_pick: 'choose an owner, or register a new one' } : {}),
    };
    const first = Object.entries(problems).find(([, v]) => v);
    if (first) {
      document.getElementById(FIELD_IDS[first[0]] ?? 'reg-owner-q')?.focus();
      toast('Please correct the marked fields', 'error');
      return;
    }
    setBusy(true);
    setOwnerError(undefined);
    setAnimalError(undefined);
    try {
      let ownerRow = ownerMode === 'existing' ? picked! : created;
      if (!ownerRow) {
        const body = Object.fromEntries(Object.entries(owner).map(([k, v]) => [k, v.trim()]));
        try {
          ownerRow = await postIdempotent<OwnerRead>('/owners', body, ownerKey.current.for(body));
        } catch (err) {
          setOwnerError(err);
          throw err;
        }
        setCreated(ownerRow);
      }
      const birth =
        animal.age_mode === 'age'
          ? birthDateFromAge(Number(animal.age_years || 0), Number(animal.age_months || 0), today())
          : animal.birth_date;
      const body = {
        name: animal.name.trim(),
        species_code: animal.species_code || null,
        breed_code: animal.breed_code || null,
        breed_text: animal.breed_text.trim(),
        sex: animal.sex,
        neuter_status: animal.neuter_status,
        birth_date: birth,
        birth_date_estimated: animal.age_mode === 'age',
        weight_kg: parseWeight(animal.weight),
        colour: animal.colour.trim(),
        microchip: animal.microchip.trim(),
        external_id: animal.external_id.trim(),
        alerts: animal.alerts.trim(),
        owners: [{ owner_id: ownerRow.id, is_primary: true, role: 'OWNER' }],
      };
      let made: AnimalRead;
      try {
        made = await postIdempotent<AnimalRead>('/animals', body, animalKey.current.for(body));
      } catch (err) {
        setAnimalError(err);
        throw err;
      }
      toast(`${made.name} registered (patient ID ${made.patient_id})`);
      navigate(`/animals/${made.id}`);
    } catch (err) {
      toastError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>New patient</h1>
      <form onSubmit={submit} noValidate class="register-form">
        <fieldset class="card">
          <legend>
            <strong>Owner</strong>
          </legend>
          {created ? (
            <p>
              Owner <strong>{ownerName(created)}</strong> is registered; finish the animal below.
            </p>
          ) : (
            <>
              <div class="row" role="radiogroup" aria-label="Owner">
                <label class="check">
                  <input type="radio" name="owner-mode" checked={ownerMode === 'new'} onChange={() => setOwnerMode('new')} /> New owner
                </label>
                <label class="check">
                  <input type="radio" name="owner-mode" checked={ownerMode === 'existing'} onChange={() => setOwnerMode('existing')} />{' '}
                  Existing owner
                </label>
              </div>
              {ownerMode === 'existing' ? (
                <OwnerPicker picked={picked} onPick={setPicked} error={checked && !picked ? 'choose an owner, or register a new one' : undefined} />
              ) : (
                <>
                  <div class="row">
                    <Field label="Family name (required)" id="reg-family" error={oErr('family_name')}>
                      <input id="reg-family" value={owner.family_name} maxLength={64} autoComplete="off" onInput={(e) => setO('family_name', e.currentTarget.value)} />
                    </Field>
                    <Field label="Given name" id="reg-given" error={oErr('given_name')}>
                      <input id="reg-given" value={owner.given_name} maxLength={64} autoComplete="off" onInput={(e) => setO('given_name', e.currentTarget.value)} />
                    </Field>
                  </div>
                  <div class="row">
                    <Field label="Phone" id="reg-phone" error={oErr('phone')}>
                      <input id="reg-phone" type="tel" value={owner.phone} maxLength={32} onInput={(e) => setO('phone', e.currentTarget.value)} />
                    </Field>
                    <Field label="E-mail" id="reg-email" error={oErr('email')}>
                      <input id="reg-email" type="email" value={owner.email} maxLength={254} onInput={(e) => setO('email', e.currentTarget.value)} />
                    </Field>
                  </div>
                  <div class="row">
                    <Field label="Address" id="reg-address" error={oErr('address_line')}>
                      <input id="reg-address" value={owner.address_line} maxLength={256} onInput={(e) => setO('address_line', e.currentTarget.value)} />
                    </Field>
                    <Field label="Postal code" id="reg-postal" error={oErr('postal_code')}>
                      <input id="reg-postal" value={owner.postal_code} maxLength={16} onInput={(e) => setO('postal_code', e.currentTarget.value)} />
                    </Field>
                    <Field label="City" id="reg-city" error={oErr('city')}>
                      <input id="reg-city" value={owner.city} maxLength={64} onInput={(e) => setO('city', e.currentTarget.value)} />
                    </Field>
                  </div>
                  {ownerError !== undefined && <ErrorBanner error={ownerError} />}
                </>
              )}
            </>
          )}
        </fieldset>

        <fieldset class="card" style={{ marginTop: '1rem' }}>
          <legend>
            <strong>Animal</strong>
          </legend>
          <div class="row">
            <Field label="Name (required)" id="reg-name" error={aErr('name')}>
              <input id="reg-name" value={animal.name} maxLength={64} autoComplete="off" onInput={(e) => setA('name', e.currentTarget.value)} />
            </Field>
            <Field label="PMS patient id" id="reg-external" error={aErr('external_id')}>
              <input id="reg-external" value={animal.external_id} maxLength={64} onInput={(e) => setA('external_id', e.currentTarget.value)} />
            </Field>
          </div>
          <SpeciesBreedFields
            idPrefix="reg"
            value={animal}
            onChange={(v) => setAnimal((a) => ({ ...a, ...v }))}
            errors={{ species: aErr('species_code'), breed: aErr('breed_code'), breed_text: aErr('breed_text') }}
          />
          <SexNeuterFields
            idPrefix="reg"
            sex={animal.sex}
            neuter={animal.neuter_status}
            onSex={(v) => setA('sex', v)}
            onNeuter={(v) => setA('neuter_status', v)}
            errors={{ sex: aErr('sex'), neuter_status: aErr('neuter_status') }}
          />
          <div class="row" role="radiogroup" aria-label="Birth date or age">
            <label class="check">
              <input type="radio" name="age-mode" checked={animal.age_mode === 'date'} onChange={() => setA('age_mode', 'date')} /> Birth date known
            </label>
            <label class="check">
              <input type="radio" name="age-mode" checked={animal.age_mode === 'age'} onChange={() => setA('age_mode', 'age')} /> Estimated age
            </label>
          </div>
          <div class="row">
            {animal.age_mode === 'date' ? (
              <Field label="Birth date" id="reg-birth" error={aErr('birth_date')}>
                <input id="reg-birth" type="date" max={today()} value={animal.birth_date} onInput={(e) => setA('birth_date', e.currentTarget.value)} />
              </Field>
            ) : (
              <>
                <Field label="Age: years" id="reg-age-years" error={aErr('age')}>
                  <input id="reg-age-years" inputMode="numeric" value={animal.age_years} onInput={(e) => setA('age_years', e.currentTarget.value)} />
                </Field>
                <Field label="and months" id="reg-age-months">
                  <input id="reg-age-months" inputMode="numeric" value={animal.age_months} onInput={(e) => setA('age_months', e.currentTarget.value)} />
                </Field>
              </>
            )}
            <Field label="Weight (kg)" id="reg-weight" error={aErr('weight_kg')}>
              <input id="reg-weight" inputMode="decimal" value={animal.weight} onInput={(e) => setA('weight', e.currentTarget.value)} />
            </Field>
            <Field label="Colour" id="reg-colour" error={aErr('colour')}>
              <input id="reg-colour" value={animal.colour} maxLength={64} onInput={(e) => setA('colour', e.currentTarget.value)} />
            </Field>
            <Field label="Microchip" id="reg-microchip" error={aErr('microchip')} hint="15 digits (ISO 11784)">
              <input id="reg-microchip" class="mono" value={animal.microchip} maxLength={64} onInput={(e) => setA('microchip', e.currentTarget.value)} />
            </Field>
          </div>
          <Field label="Alerts (bites, allergies, sedation notes)" id="reg-alerts" error={aErr('alerts')}>
            <textarea id="reg-alerts" value={animal.alerts} maxLength={4000} onInput={(e) => setA('alerts', e.currentTarget.value)} />
          </Field>
          {animalError !== undefined && <ErrorBanner error={animalError} />}
        </fieldset>
        <div class="row" style={{ marginTop: '1rem' }}>
          <button type="submit" class="primary" id="reg-submit" disabled={busy}>
            {busy ? 'Registering…' : 'Register patient'}
          </button>
        </div>
      </form>
    </section>
  );
}

function OwnerPicker(props: { picked: OwnerRead | undefined; onPick: (o: OwnerRead | undefined) => void; error?: string }): JSX.Element {
  const [q, setQ] = useState('');
  const [debounced, setDebounced] = useState('');
  useEffect(() => {
    const t = setTimeout(() => setDebounced(q.trim()), 200);
    return () => clearTimeout(t);
  }, [q]);
  const found = useAsync(
    (signal) => (debounced ? get<Page<OwnerRead>>('/owners', { q: debounced, limit: 10 }, signal) : Promise.resolve(undefined)),
    [debounced],
  );
  if (props.picked) {
    const o = props.picked;
    return (
      <p class="picked-animal">
        <strong>{ownerName(o)}</strong> <span class="muted">{[o.phone, o.email, o.city].filter(Boolean).join(' · ')}</span>
        <button type="button" class="small" onClick={() => props.onPick(undefined)}>
          Change
        </button>
      </p>
    );
  }
  return (
    <div>
      <Field label="Find the owner (family name, phone, e-mail or PMS id)" id="reg-owner-q" error={props.error}>
        <input id="reg-owner-q" type="search" value={q} autoComplete="off" onInput={(e) => setQ(e.currentTarget.value)} />
      </Field>
      <ErrorBanner error={found.error} />
      {found.data && found.data.items.length === 0 && <p class="empty">No owner matches “{debounced}”.</p>}
      {found.data && found.data.items.length > 0 && (
        <ul class="pick-list">
          {found.data.items.map((o) => (
            <li key={o.id}>
              <button type="button" onClick={() => props.onPick(o)}>
                <strong>{ownerName(o)}</strong> <span class="muted">{[o.phone, o.email, o.city].filter(Boolean).join(' · ')}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
