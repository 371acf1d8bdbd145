/** Pieces the search screen and the chart share: an animal card, a study thumbnail, a status badge. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { thumbnailUrl } from './api';
import { sexLabel } from './chart-model';
import { Link } from './router';
import { type AnimalHit, statusText, statusTone } from './search-model';
import { ageOf, isoDate } from './ui';

export function StatusBadge({ status }: { status: string }): JSX.Element {
  return <span class={`badge ${statusTone(status)}`}>{statusText(status)}</span>;
}

/** A study's thumbnail, loaded lazily; a neutral box when the study has no renderable image. */
export function Thumb({ uid, size = 64 }: { uid: string; size?: number }): JSX.Element {
  const [failed, setFailed] = useState(false);
  if (failed) return <span class="thumb thumb-none" style={{ width: size, height: size }} aria-hidden="true" />;
  return (
    <img
      class="thumb"
      src={thumbnailUrl(uid)}
      loading="lazy"
      width={size}
      height={size}
      alt=""
      onError={() => setFailed(true)}
    />
  );
}

export function AnimalCard({ animal }: { animal: AnimalHit }): JSX.Element {
  const born = isoDate(animal.birth_date);
  return (
    <li class="card animal-card">
      <Link to={`/animals/${animal.id}`} class="animal-link">
        <strong class="animal-name">{animal.name}</strong>
        {animal.deceased && <span class="badge">deceased</span>}
        {animal.alerts && (
          <span class="badge danger" title={animal.alerts}>
            ⚠ Alert
          </span>
        )}
      </Link>
      <div class="muted">
        {[animal.species, animal.breed].filter(Boolean).join(' · ') || 'species not recorded'}
      </div>
      <div>
        {born ? ageOf(born) : 'age unknown'} · {sexLabel(animal.sex, animal.neuter_status)}
        {animal.weight_kg ? ` · ${animal.weight_kg} kg` : ''}
      </div>
      {animal.microchip && <div class="mono">Chip {animal.microchip}</div>}
      <div>{animal.owners.length ? animal.owners.join('; ') : <span class="muted">no owner recorded</span>}</div>
      <div class="muted small">
        ID {animal.patient_id} · {animal.study_count} {animal.study_count === 1 ? 'study' : 'studies'}
        {animal.last_study_date ? `, last ${isoDate(animal.last_study_date)}` : ''}
      </div>
      <div class="card-actions">
        <Link to={`/orders/new?animal=${animal.id}`} class="button small">
          New order
        </Link>
      </div>
    </li>
  );
}
