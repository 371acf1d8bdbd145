/**
 * Search (route /): one box across animals, owners, microchips and accession numbers, with filters;
 * animal cards and a studies table. The search lives in the URL (?q=...&species=...), typing is
 * debounced and the previous request aborted (last one wins).
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, viewerUrl } from '../api';
import type { BreedRead, SpeciesRead } from '../chart-model';
import { BODY_REGIONS, MODALITIES, ORDER_STATUSES } from '../order-model';
import { Link, navigate } from '../router';
import { can, type ScreenProps } from '../screen';
import { AnimalCard, StatusBadge, Thumb } from '../search-parts';
import {
  type FilterName,
  type SearchResult,
  type SearchState,
  type StudyHit,
  isBlankSearch,
  pageCount,
  parseSearch,
  searchApiQuery,
  searchQueryString,
} from '../search-model';
import { Empty, ErrorBanner, Loading, useAsync } from '../ui';

const DEBOUNCE_MS = 200;

export function SearchScreen({ location, me }: ScreenProps): JSX.Element {
  const state = parseSearch(location.query);
  const key = searchQueryString(state);
  const [text, setText] = useState(state.q);
  const box = useRef<HTMLInputElement>(null);
  const typed = useRef(state.q);

  // back/forward or a link changed the URL: show its query in the box
  useEffect(() => {
    if (state.q !== typed.current.trim()) {
      typed.current = state.q;
      setText(state.q);
    }
  }, [state.q]);

  useEffect(() => {
    box.current?.focus();
  }, []);

  const go = (next: SearchState, replace = false): void => navigate('/' + searchQueryString(next), replace);

  // typing: replace the URL (one history entry per search, not per key) after a pause
  useEffect(() => {
    if (text.trim() === state.q.trim()) return;
    const timer = setTimeout(() => {
      typed.current = text;
      go({ ...parseSearch(new URLSearchParams(window.location.search)), q: text, page: 1 }, true);
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text]);

  const species = useAsync((signal) => get<SpeciesRead[]>('/species', undefined, signal), []);
  const chosen = species.data?.find((s) => s.code === state.species);
  const breeds = useAsync(
    (signal) => (chosen ? get<BreedRead[]>(`/species/${chosen.id}/breeds`, undefined, signal) : Promise.resolve([])),
    [chosen?.id],
  );

  const blank = isBlankSearch(state);
  const result = useAsync<SearchResult | undefined>(
    (signal) => (blank ? Promise.resolve(undefined) : get<SearchResult>('/search', searchApiQuery(state), signal)),
    [key],
  );

  const setFilter = (name: FilterName, value: string): void => {
    const next = { ...state, q: text, [name]: value, page: 1 };
    if (name === 'species') next.breed = '';
    go(next);
  };
  const filterCount = (['species', 'breed', 'modality', 'body_region', 'date_from', 'date_to', 'status'] as const).filter(
    (n) => state[n],
  ).length;

  const data = result.data;
  const studies = data?.studies;
  const pages = studies ? pageCount(studies.total) : 1;
  const animalsTotal = Math.max(data?.animals_total ?? 0, data?.animals.length ?? 0);

  return (
    <section class="search-screen">
      <div class="screen-head">
        <h1>Search</h1>
        <div class="actions">
          {can(me, 'patients:write') && (
            <Link to="/animals/new" class="button primary">
              New patient
            </Link>
          )}
        </div>
      </div>
      <form
        role="search"
        class="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          typed.current = text;
          go({ ...state, q: text, page: 1 }, true);
        }}
      >
        <label for="search-q" class="sr-only">
          Search animals, owners, microchips, accession numbers
        </label>
        <input
          id="search-q"
          ref={box}
          type="search"
          class="search-box"
          placeholder="Animal, owner, microchip, patient ID or accession number"
          autoComplete="off"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') {
              const first = document.querySelector<HTMLElement>('.search-results [data-result]');
              if (first) {
                e.preventDefault();
                first.focus();
              }
            }
          }}
        />
        <details class="filters" open={filterCount > 0}>
          <summary>Filters{filterCount ? ` (${filterCount})` : ''}</summary>
          <div class="row">
            <div class="field">
              <label for="f-species">Species</label>
              <select id="f-species" value={state.species} onChange={(e) => setFilter('species', e.currentTarget.value)}>
                <option value="">Any</option>
                {species.data?.map((s) => (
                  <option key={s.id} value={s.code}>
                    {s.common_name && s.common_name.toLowerCase() !== s.name.toLowerCase() ? `${s.name} (${s.common_name})` : s.name}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="f-breed">Breed</label>
              <select
                id="f-breed"
                value={state.breed}
                disabled={!chosen}
                onChange={(e) => setFilter('breed', e.currentTarget.value)}
              >
                <option value="">{chosen ? 'Any' : 'Choose a species first'}</option>
                {breeds.data?.map((b) => (
                  <option key={b.id} value={b.name}>
                    {b.name}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="f-modality">Modality</label>
              <select id="f-modality" value={state.modality} onChange={(e) => setFilter('modality', e.currentTarget.value)}>
                <option value="">Any</option>
                {MODALITIES.map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="f-region">Body region</label>
              <select id="f-region" value={state.body_region} onChange={(e) => setFilter('body_region', e.currentTarget.value)}>
                <option value="">Any</option>
                {BODY_REGIONS.map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="f-from">Studies from</label>
              <input id="f-from" type="date" value={state.date_from} onChange={(e) => setFilter('date_from', e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="f-to">to</label>
              <input id="f-to" type="date" value={state.date_to} onChange={(e) => setFilter('date_to', e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="f-status">Status</label>
              <select id="f-status" value={state.status} onChange={(e) => setFilter('status', e.currentTarget.value)}>
                <option value="">Any</option>
                <option value="unmatched">unmatched (no animal)</option>
                <option value="linked">linked to an animal</option>
                {ORDER_STATUSES.map((s) => (
                  <option key={s} value={s}>
                    order {s.replace(/_/g, ' ')}
                  </option>
                ))}
              </select>
            </div>
            {filterCount > 0 && (
              <button type="button" onClick={() => go({ ...parseSearch(new URLSearchParams()), q: text })}>
                Clear filters
              </button>
            )}
          </div>
        </details>
      </form>

      <ErrorBanner error={species.error} />
      <div class="search-results" aria-live="polite" aria-busy={result.loading}>
        {blank ? (
          <Empty>
            Type an animal or owner name, a microchip, a patient ID or an accession number, or choose a filter.
          </Empty>
        ) : result.error ? (
          <ErrorBanner error={result.error} />
        ) : !data ? (
          <Loading label="Searching…" />
        ) : data.animals.length === 0 && studies!.total === 0 ? (
          <Empty>No animals or studies match “{state.q || 'these filters'}”.</Empty>
        ) : (
          <>
            <p class="muted small search-meta" data-testid="search-meta">
              {animalsTotal} {animalsTotal === 1 ? 'animal' : 'animals'}
              {animalsTotal > data.animals.length ? ` (first ${data.animals.length} shown: narrow the search)` : ''}, {studies!.total}{' '}
              {studies!.total === 1 ? 'study' : 'studies'} · {data.took_ms < 10 ? data.took_ms.toFixed(1) : Math.round(data.took_ms)} ms
              {result.loading && ' · updating…'}
            </p>
            {data.animals.length > 0 && (
              <>
                <h2>Animals</h2>
                <ul class="animal-cards">
                  {data.animals.map((a) => (
                    <AnimalCard key={a.id} animal={a} />
                  ))}
                </ul>
              </>
            )}
            {studies!.total > 0 && (
              <>
                <h2>Studies</h2>
                <StudiesTable items={studies!.items} />
                {pages > 1 && (
                  <nav class="pager" aria-label="Study pages">
                    <button type="button" disabled={state.page <= 1} onClick={() => go({ ...state, page: state.page - 1 })}>
                      ← Previous
                    </button>
                    <span>
                      Page {state.page} of {pages}
                    </span>
                    <button type="button" disabled={state.page >= pages} onClick={() => go({ ...state, page: state.page + 1 })}>
                      Next →
                    </button>
                  </nav>
                )}
              </>
            )}
          </>
        )}
      </div>
    </section>
  );
}

function StudiesTable({ items }: { items: StudyHit[] }): JSX.Element {
  const open = (uid: string): void => window.location.assign(viewerUrl(uid));
  return (
    <div class="table-scroll">
      <table class="studies-table">
        <thead>
          <tr>
            <th scope="col">
              <span class="sr-only">Image</span>
            </th>
            <th scope="col">Date</th>
            <th scope="col">Accession</th>
            <th scope="col">Animal</th>
            <th scope="col">Owner</th>
            <th scope="col">Modality</th>
            <th scope="col">Body part</th>
            <th scope="col">Description</th>
            <th scope="col">Status</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((s) => (
            <tr
              key={s.study_uid}
              data-result
              tabIndex={0}
              aria-label={`Study ${s.study_date ?? ''} ${s.accession_number} ${s.animal_name}: Enter opens it in the viewer`}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && e.target === e.currentTarget) open(s.study_uid);
                if (e.key === 'ArrowDown') (e.currentTarget.nextElementSibling as HTMLElement | null)?.focus();
                if (e.key === 'ArrowUp') (e.currentTarget.previousElementSibling as HTMLElement | null)?.focus();
              }}
            >
              <td>
                <Thumb uid={s.study_uid} size={48} />
              </td>
              <td class="nowrap">{s.study_date ?? '—'}</td>
              <td class="mono">{s.accession_number || '—'}</td>
              <td>
                {s.animal_id ? <Link to={`/animals/${s.animal_id}`}>{s.animal_name || s.patient_id}</Link> : s.animal_name || s.patient_id}
                <div class="muted small">{[s.species, s.breed].filter(Boolean).join(' · ')}</div>
              </td>
              <td>{s.owner}</td>
              <td>{s.modalities.join(', ')}</td>
              <td>{s.body_parts.join(', ')}</td>
              <td>
                {s.description}
                <div class="muted small">
                  {s.series} series, {s.instances} images
                </div>
              </td>
              <td>
                <StatusBadge status={s.status} />
              </td>
              <td>
                <a class="button small" href={viewerUrl(s.study_uid)}>
                  Open
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
