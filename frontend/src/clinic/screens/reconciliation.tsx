/**
 * The reconciliation queue (/reconciliation): studies that did not file themselves. Each item shows
 * a thumbnail, what arrived (patient name and ID, accession, modality, date), why it did not match,
 * and the likely matches ranked by the server; a person links it to one (or to an animal found by
 * search), creates the animal from the DICOM header and links, or rejects it with a reason. Every
 * action can be undone from the row. ?status=open|linked|rejected|all picks the list.
 */
import type { JSX } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { ConfirmButton, Pager, when } from '../admin-kit';
import { get, post, thumbnailUrl, viewerUrl } from '../api';
import { POLL_MS, liveLabel, useLiveEvents, usePolling } from '../live';
import {
  dicomDate,
  linkBody,
  mergeTouched,
  patientLabel,
  rankCandidates,
  reasonText,
  RECON_EVENTS,
  studyFacts,
  type Candidate,
  type ReconItem,
} from '../recon-model';
import { Link, navigate } from '../router';
import { can, type ScreenProps } from '../screen';
import { Empty, ErrorBanner, Field, Loading, toast, useAction, useAsync } from '../ui';

interface Animal {
  id: number;
  name: string;
  patient_id: string;
  patient_name: string;
  species: { name: string } | null;
  species_text: string;
  breed: { name: string } | null;
  birth_date: string;
  owners: { family_name: string; given_name: string }[];
}

const animals = new Map<number, Promise<Animal>>();
function animal(id: number): Promise<Animal> {
  let found = animals.get(id);
  if (!found) {
    found = get<Animal>(`/animals/${id}`);
    found.catch(() => animals.delete(id));
    animals.set(id, found);
  }
  return found;
}

function animalSummary(a: Animal): string {
  const owner = a.owners[0] ? `${a.owners[0].family_name}${a.owners[0].given_name ? ', ' + a.owners[0].given_name : ''}` : 'no owner';
  const species = a.species?.name || a.species_text;
  return [species, a.breed?.name, `ID ${a.patient_id}`, `owner ${owner}`].filter(Boolean).join(' · ');
}

function AnimalLabel({ id }: { id: number }): JSX.Element {
  const found = useAsync(() => animal(id), [id]);
  if (found.error) return <span>Animal {id} (could not load: {String((found.error as Error).message)})</span>;
  if (!found.data) return <span>Animal {id}…</span>;
  return (
    <span>
      <strong>{found.data.name}</strong> <span class="muted small">{animalSummary(found.data)}</span>
    </span>
  );
}

function StudyFactsView({ item }: { item: ReconItem }): JSX.Element {
  const qido = useAsync(
    (signal) =>
      get<Record<string, { vr: string; Value?: unknown[] }>[]>(
        '/dicom-web/studies',
        { StudyInstanceUID: item.study_instance_uid, includefield: '00081030' },
        signal,
      ),
    [item.study_instance_uid],
  );
  const facts = studyFacts(qido.data?.[0]);
  const modality = item.modality || facts.modality;
  return (
    <dl class="facts">
      <dt>Patient</dt>
      <dd>
        {patientLabel(item.patient_name)} <span class="muted small">({item.patient_name || 'empty'})</span>
      </dd>
      <dt>Patient ID</dt>
      <dd class="mono">{item.patient_id || '—'}</dd>
      <dt>Accession</dt>
      <dd class="mono">{item.accession_number || '—'}</dd>
      <dt>Modality</dt>
      <dd>{modality || (qido.loading ? '…' : '—')}</dd>
      <dt>Study date</dt>
      <dd>{dicomDate(item.study_date) || '—'}</dd>
      {facts.description && (
        <>
          <dt>Description</dt>
          <dd>{facts.description}</dd>
        </>
      )}
      {facts.species && (
        <>
          <dt>Species</dt>
          <dd>{facts.species}</dd>
        </>
      )}
      {facts.images !== undefined && (
        <>
          <dt>Images</dt>
          <dd>{facts.images}</dd>
        </>
      )}
      {item.calling_ae && (
        <>
          <dt>Sent by</dt>
          <dd class="mono">{item.calling_ae}</dd>
        </>
      )}
      <dt>Queued</dt>
      <dd>{when(item.created_at)}</dd>
    </dl>
  );
}

function Thumbnail({ uid }: { uid: string }): JSX.Element {
  const [failed, setFailed] = useState(false);
  if (failed) return <div class="thumb thumb-missing">No preview</div>;
  return (
    <a href={viewerUrl(uid)} target="_blank" rel="noopener" class="thumb" title="Open in the viewer">
      <img src={thumbnailUrl(uid)} alt="Study preview" width={128} height={128} loading="lazy" onError={() => setFailed(true)} />
    </a>
  );
}

type Choice = { key: string; order_id: number | null; animal_id: number };

function AnimalSearch(props: { name: string; onPick: (c: Choice) => void; chosen: string }): JSX.Element {
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const results = useAsync(
    (signal) => (query.length >= 2 ? get<{ items: Animal[] }>('/animals', { q: query, limit: 8 }, signal) : Promise.resolve({ items: [] })),
    [query],
  );
  const id = `${props.name}-search`;
  return (
    <div class="recon-search">
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery(q.trim());
        }}
      >
        <Field label="Find another animal" id={id} hint="Name, owner, patient ID or microchip">
          <input id={id} type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit">Search</button>
      </form>
      <ErrorBanner error={results.error} />
      {query.length >= 2 && results.data && results.data.items.length === 0 && <Empty>No animal matches “{query}”.</Empty>}
      {results.data && results.data.items.length > 0 && (
        <ul class="choices">
          {results.data.items.map((a) => {
            const key = `a${a.id}`;
            return (
              <li key={key}>
                <label>
                  <input
                    type="radio"
                    name={props.name}
                    checked={props.chosen === key}
                    onChange={() => props.onPick({ key, order_id: null, animal_id: a.id })}
                  />{' '}
                  <strong>{a.name}</strong> <span class="muted small">{animalSummary(a)}</span>
                </label>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

function candidateKey(c: Candidate): string {
  return c.order_id !== null ? `o${c.order_id}` : `a${c.animal_id}`;
}

function OpenActions(props: { item: ReconItem; onDone: (item: ReconItem, message: string) => void }): JSX.Element {
  const { item } = props;
  const ranked = useMemo(() => rankCandidates(item.candidates), [item.candidates]);
  const [choice, setChoice] = useState<Choice | undefined>(() =>
    ranked[0] ? { key: candidateKey(ranked[0]), order_id: ranked[0].order_id, animal_id: ranked[0].animal_id } : undefined,
  );
  const [rejectReason, setRejectReason] = useState('');
  const link = useAction((c: Choice) => post<ReconItem>(`/reconciliation/${item.id}/link`, linkBody(c)));
  const create = useAction(() => post<ReconItem>(`/reconciliation/${item.id}/create-and-link`, {}));
  const reject = useAction(() => post<ReconItem>(`/reconciliation/${item.id}/reject`, { reason: rejectReason.trim() }));
  const busy = link.busy || create.busy || reject.busy;
  const group = `recon-${item.id}`;
  return (
    <div class="recon-actions">
      <h3>Likely matches</h3>
      {ranked.length === 0 ? (
        <p class="muted">No likely match: search for the animal below, or create it from the study.</p>
      ) : (
        <ul class="choices" aria-label="Likely matches, best first">
          {ranked.map((c) => {
            const key = candidateKey(c);
            return (
              <li key={key}>
                <label>
                  <input
                    type="radio"
                    name={group}
                    checked={choice?.key === key}
                    onChange={() => setChoice({ key, order_id: c.order_id, animal_id: c.animal_id })}
                  />{' '}
                  <AnimalLabel id={c.animal_id} />
                  {c.order_id !== null && (
                    <span class="badge info">order {c.accession_number || `#${c.order_id}`}</span>
                  )}{' '}
                  <span class="muted small">
                    score {c.score}: {c.why.join(', ')}
                  </span>
                </label>
              </li>
            );
          })}
        </ul>
      )}
      <AnimalSearch name={group} chosen={choice?.key ?? ''} onPick={setChoice} />
      <div class="recon-buttons">
        <button
          type="button"
          class="primary"
          disabled={!choice || busy}
          onClick={async () => {
            if (!choice) return;
            const done = await link.run(choice);
            if (done) props.onDone(done, `Study linked${done.order_id ? ' to the order' : ' to the animal'}`);
          }}
        >
          {link.busy ? 'Linking…' : choice?.order_id ? 'Link to this order' : 'Link to this animal'}
        </button>
        <ConfirmButton
          label="Create animal from study"
          question={`Register “${patientLabel(item.patient_name)}” as a new animal and link?`}
          confirmLabel="Create and link"
          busy={create.busy}
          disabled={busy}
          onConfirm={async () => {
            const done = await create.run();
            if (done) props.onDone(done, 'New animal created and the study linked');
          }}
        />
        <ConfirmButton
          label="Reject"
          question="Leave this study unlinked?"
          confirmLabel="Reject"
          busy={reject.busy}
          disabled={busy}
          onConfirm={async () => {
            const done = await reject.run();
            if (done) props.onDone(done, 'Study rejected');
          }}
        >
          <label class="sr-only" for={`${group}-reason`}>
            Reason
          </label>
          <input
            id={`${group}-reason`}
            placeholder="Reason (e.g. test image)"
            value={rejectReason}
            maxLength={500}
            onInput={(e) => setRejectReason((e.target as HTMLInputElement).value)}
          />
        </ConfirmButton>
      </div>
      <ErrorBanner error={link.error || create.error || reject.error} />
    </div>
  );
}

function Resolved(props: { item: ReconItem; writable: boolean; onDone: (item: ReconItem, message: string) => void }): JSX.Element {
  const { item } = props;
  const undo = useAction(() => post<ReconItem>(`/reconciliation/${item.id}/undo`));
  return (
    <div class="recon-actions">
      <p role="status">
        <span class={`badge ${item.status === 'linked' ? 'ok' : 'danger'}`}>{item.status}</span>{' '}
        {item.status === 'linked' && item.animal_id !== null && (
          <>
            to <Link to={`/animals/${item.animal_id}`}><AnimalLabel id={item.animal_id} /></Link>
            {item.order_id !== null && <> (order #{item.order_id})</>}{' '}
          </>
        )}
        <span class="muted small">
          by {item.resolved_by || 'unknown'} {when(item.resolved_at)}
        </span>
      </p>
      {props.writable && (
        <button
          type="button"
          disabled={undo.busy}
          onClick={async () => {
            const done = await undo.run();
            if (done) props.onDone(done, 'Undone: the study is open again');
          }}
        >
          {undo.busy ? 'Undoing…' : 'Undo'}
        </button>
      )}
      <ErrorBanner error={undo.error} />
    </div>
  );
}

function ItemView(props: { item: ReconItem; writable: boolean; onDone: (item: ReconItem, message: string) => void }): JSX.Element {
  const { item } = props;
  return (
    <li class={`recon-item card status-${item.status}`} data-item={item.id} aria-labelledby={`recon-${item.id}-title`}>
      <Thumbnail uid={item.study_instance_uid} />
      <div class="recon-body">
        <h2 id={`recon-${item.id}-title`}>
          {patientLabel(item.patient_name)} <span class="muted small">· {item.accession_number || 'no accession'}</span>
        </h2>
        <p class="recon-reason">
          <span class="badge warn">{item.reason}</span> {reasonText(item.reason)}
          {item.detail && <span class="muted">: {item.detail}</span>}
        </p>
        <StudyFactsView item={item} />
      </div>
      {item.status === 'open' ? (
        props.writable ? (
          <OpenActions item={item} onDone={props.onDone} />
        ) : (
          <p class="muted">You can see this queue; linking needs the orders:write permission.</p>
        )
      ) : (
        <Resolved item={item} writable={props.writable} onDone={props.onDone} />
      )}
    </li>
  );
}

const FILTERS = [
  ['open', 'Open'],
  ['linked', 'Linked'],
  ['rejected', 'Rejected'],
  ['all', 'All'],
] as const;
const LIMIT = 25;

export function ReconciliationScreen({ location, me }: ScreenProps): JSX.Element {
  const status = location.query.get('status') ?? 'open';
  const offset = Math.max(0, Number(location.query.get('offset') ?? 0) || 0);
  const list = useAsync(
    (signal) =>
      get<ReconItem[]>('/reconciliation', { status: status === 'all' ? '' : status, limit: LIMIT, offset }, signal),
    [status, offset],
  );
  const [touched, setTouched] = useState(new Map<number, ReconItem>());
  const live = useLiveEvents(RECON_EVENTS, list.reload);
  usePolling(list.reload, POLL_MS);
  const rows = useMemo(() => mergeTouched(list.data ?? [], touched), [list.data, touched]);
  const writable = can(me, 'orders:write');
  const onDone = (item: ReconItem, message: string): void => {
    setTouched((m) => new Map(m).set(item.id, item));
    animals.clear();
    list.reload();
    toast(message);
  };
  const go = (next: { status?: string; offset?: number }): void => {
    const params = new URLSearchParams();
    const s = next.status ?? status;
    if (s !== 'open') params.set('status', s);
    const o = next.offset ?? 0;
    if (o) params.set('offset', String(o));
    setTouched(new Map());
    const qs = params.toString();
    navigate(`/reconciliation${qs ? `?${qs}` : ''}`, true);
  };
  return (
    <section class="recon">
      <div class="board-toolbar">
        <h1>Reconciliation</h1>
        <div class="tabs" role="group" aria-label="Show">
          {FILTERS.map(([value, label]) => (
            <button key={value} type="button" aria-pressed={status === value} onClick={() => go({ status: value })}>
              {label}
            </button>
          ))}
        </div>
        <div class="board-status">
          <span class={`live-dot live-${live}`} data-live={live} role="status">
            {liveLabel(live)}
          </span>
          <button type="button" onClick={list.reload} disabled={list.loading}>
            Refresh
          </button>
        </div>
      </div>
      <ErrorBanner error={list.error} />
      {!list.data && list.loading && <Loading />}
      {list.data && rows.length === 0 && (
        <Empty>{status === 'open' ? 'Nothing to reconcile.' : `No ${status === 'all' ? '' : status + ' '}items.`}</Empty>
      )}
      {rows.length > 0 && (
        <ol class="recon-list">
          {rows.map((item) => (
            <ItemView key={item.id} item={item} writable={writable} onDone={onDone} />
          ))}
        </ol>
      )}
      {list.data && <Pager offset={offset} limit={LIMIT} count={list.data.length} onOffset={(o) => go({ offset: o })} />}
    </section>
  );
}
