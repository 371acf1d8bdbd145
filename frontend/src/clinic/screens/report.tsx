/**
 * Report (/studies/:uid/report[?animal=ID]): the study's header (animal, species, breed, owner,
 * date, modality, accession), then its report: a template for the animal's species, the sections
 * to write, "Save draft" and "Sign" (asks first; the server's refusal shown beside the form); a
 * signed report is read-only with its signer, time, version and PDF, and may be amended with a
 * reason or withdrawn as entered in error (reports:sign; a reason asked in a dialog). A withdrawn
 * report stays readable, marked withdrawn with who, when and why. A study has one report that is
 * not cancelled or withdrawn: an existing one is opened, never doubled.
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { fieldMessage } from '../admin-model';
import { get, patch, post, queryString, viewerUrl } from '../api';
import { ConfirmButton } from '../admin-kit';
import type { Page } from '../chart-model';
import {
  GENERAL,
  type ReportForm,
  type ReportRead,
  type Section,
  type TemplateRead,
  amendBody,
  amendError,
  changedSections,
  createBody,
  currentReport,
  emptyForm,
  formFrom,
  isDirty,
  isSigned,
  isWithdrawn,
  mayRewrite,
  rights,
  statusLabel,
  suggestTemplate,
  templatesFor,
  withdrawBody,
  withdrawError,
} from '../report-model';
import { Link } from '../router';
import { can, type ScreenProps } from '../screen';
import type { SearchResult, StudyHit, Timeline } from '../search-model';
import { ErrorBanner, Field, Loading, fieldError, isoDate, useAction, useAsync } from '../ui';

/** The study as search shows it: from the animal's timeline, else found by its accession number. */
async function loadStudy(uid: string, animalId: string, signal: AbortSignal): Promise<StudyHit | undefined> {
  if (animalId) {
    const timeline = await get<Timeline>(`/animals/${encodeURIComponent(animalId)}/timeline`, undefined, signal);
    for (const item of timeline.items) if (item.kind === 'study' && item.study.study_uid === uid) return item.study;
  }
  const qido = await get<Record<string, { Value?: unknown[] }>[]>(
    '/dicom-web/studies' + queryString({ StudyInstanceUID: uid, includefield: '00080050' }),
    undefined,
    signal,
  );
  const accession = String(qido[0]?.['00080050']?.Value?.[0] ?? '');
  if (!accession) return undefined;
  const found = await get<SearchResult>('/search', { q: accession, limit: 50 }, signal);
  return found.studies.items.find((s) => s.study_uid === uid);
}

export function ReportScreen({ params, location, me }: ScreenProps): JSX.Element {
  const uid = params.uid;
  if (!can(me, 'reports:read')) return <p class="error" role="alert">Reports are not available to your role (no reports:read permission).</p>;
  return <ReportPage uid={uid} animal={location.query.get('animal') ?? ''} me={me} />;
}

function ReportPage({ uid, animal, me }: { uid: string; animal: string; me: ScreenProps['me'] }): JSX.Element {
  const existing = useAsync(
    (signal) => get<Page<ReportRead>>('/reports', { study: uid, limit: 50 }, signal).then((p) => currentReport(p.items) ?? null),
    [uid],
  );
  const report = existing.data;
  const animalId = animal || (report?.animal_id ? String(report.animal_id) : '');
  const study = useAsync(
    (signal) => (existing.data === undefined ? Promise.resolve(undefined) : loadStudy(uid, animalId, signal)),
    [uid, animalId, existing.data === undefined],
  );
  const hit = study.data;
  const chartId = animalId || (hit?.animal_id ? String(hit.animal_id) : '');
  return (
    <section class="report-screen">
      <div class="screen-head">
        <h1>Report</h1>
        <div class="actions">
          {chartId && <Link to={`/animals/${chartId}`}>Back to the chart</Link>}
          <a class="button" href={viewerUrl(uid)}>
            Open images
          </a>
        </div>
      </div>
      {study.error ? <ErrorBanner error={study.error} /> : <StudyHeader hit={hit} loading={study.loading} uid={uid} />}
      {existing.error ? (
        <ErrorBanner error={existing.error} />
      ) : existing.data === undefined || study.loading ? (
        <Loading />
      ) : (
        <ReportEditor uid={uid} initial={existing.data ?? undefined} hit={hit} permissions={me.permissions} />
      )}
    </section>
  );
}

function StudyHeader({ hit, loading, uid }: { hit: StudyHit | undefined; loading: boolean; uid: string }): JSX.Element {
  if (loading) return <Loading label="Loading the study…" />;
  if (!hit)
    return (
      <p class="muted">
        Study <span class="mono">{uid}</span> (no animal or search entry found for it).
      </p>
    );
  return (
    <div class="card report-study" aria-label="Study">
      <dl class="facts">
        <dt>Animal</dt>
        <dd>
          <strong>{hit.animal_name || '—'}</strong> <span class="mono small">{hit.patient_id}</span>
        </dd>
        <dt>Species</dt>
        <dd>{hit.species || '—'}</dd>
        <dt>Breed</dt>
        <dd>{hit.breed || '—'}</dd>
        <dt>Owner</dt>
        <dd>{hit.owner || '—'}</dd>
        <dt>Study</dt>
        <dd>
          {[isoDate(hit.study_date), hit.modalities.join(', '), hit.body_parts.join(', '), hit.description].filter(Boolean).join(' · ') ||
            '—'}
        </dd>
        <dt>Accession</dt>
        <dd class="mono">{hit.accession_number || '—'}</dd>
      </dl>
    </div>
  );
}

const LABELS: Record<Section, string> = {
  title: 'Title',
  findings: 'Findings',
  conclusion: 'Conclusion',
  recommendations: 'Recommendations',
};

function ReportEditor(props: { uid: string; initial: ReportRead | undefined; hit: StudyHit | undefined; permissions: string[] }): JSX.Element {
  const { uid, hit, permissions } = props;
  const [report, setReport] = useState<ReportRead | undefined>(props.initial);
  const [form, setForm] = useState<ReportForm>(props.initial ? formFrom(props.initial) : emptyForm());
  const [templateKey, setTemplateKey] = useState(props.initial?.template_key ?? '');
  const [amending, setAmending] = useState(false);
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | undefined>(undefined);
  const [last, setLast] = useState<'save' | 'sign'>('save'); // whose error the form shows
  const may = rights(permissions, report?.status);
  const rewrite = mayRewrite(permissions, report?.status);
  const species = hit?.species ?? '';
  const bodyParts = hit?.body_parts ?? [];

  const templates = useAsync(
    (signal) => get<TemplateRead[]>('/report-templates', { species }, signal).then((all) => templatesFor(all, species, bodyParts)),
    [species],
  );
  // A new report starts from the template that fits the animal and the study's region.
  useEffect(() => {
    if (report || templateKey || !templates.data) return;
    const key = suggestTemplate(templates.data, species, bodyParts);
    const t = templates.data.find((x) => x.key === key);
    setTemplateKey(key);
    if (t) setForm(formFrom(t));
  }, [templates.data]);

  const dirty = isDirty(report, form);

  /** The draft as the form shows it on the server: created the first time, the changes sent after. */
  const saveDraft = async (): Promise<ReportRead> => {
    let saved: ReportRead;
    if (!report) saved = await post<ReportRead>(`/studies/${encodeURIComponent(uid)}/reports`, createBody(templateKey || GENERAL, form));
    else {
      const changes = changedSections(report, form);
      saved = Object.keys(changes).length ? await patch<ReportRead>(`/reports/${report.id}`, changes) : report;
    }
    setReport(saved);
    return saved;
  };
  const save = useAction(saveDraft, 'Draft saved');
  const sign = useAction(async () => {
    const draft = await saveDraft();
    const signed = await post<ReportRead>(`/reports/${draft.id}/sign`);
    setReport(signed);
    setForm(formFrom(signed));
    return signed;
  }, 'Report signed');
  const amend = useAction(async () => {
    if (!report) throw new Error('no report to amend');
    const amended = await post<ReportRead>(`/reports/${report.id}/amend`, amendBody(report, form, reason));
    setReport(amended);
    setForm(formFrom(amended));
    setAmending(false);
    setReason('');
    return amended;
  }, 'Amendment signed');
  const formError = last === 'sign' ? sign.error : save.error;
  const shownError = amending ? amend.error : formError;
  // The refusal takes the focus (the confirm button it came from is gone), so it is read out and
  // the keyboard stays beside the form.
  const errorRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (shownError) errorRef.current?.focus();
  }, [shownError]);
  // Leaving the page (reload, another site) with text the server does not have asks first.
  const unsaved = !may.readOnly || amending ? dirty : false;
  useEffect(() => {
    if (!unsaved) return;
    const warn = (e: BeforeUnloadEvent): void => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [unsaved]);

  if (may.readOnly && !amending) {
    return (
      <>
        {report ? <ReportView report={report} /> : <p class="muted">No report has been written for this study yet.</p>}
        {(may.amend || may.withdraw || rewrite) && report && (
          <div class="actions">
            {rewrite && (
              <button
                type="button"
                onClick={() => {
                  // A fresh draft from the template that fits, as for a study without a report.
                  const key = templates.data ? suggestTemplate(templates.data, species, bodyParts) : '';
                  const t = templates.data?.find((x) => x.key === key);
                  setReport(undefined);
                  setTemplateKey(key);
                  setForm(t ? formFrom(t) : emptyForm());
                }}
              >
                Write a new report
              </button>
            )}
            {may.amend && (
              <button
                type="button"
                onClick={() => {
                  setForm(formFrom(report));
                  setAmending(true);
                }}
              >
                Amend
              </button>
            )}
            {may.withdraw && (
              <WithdrawButton
                report={report}
                onWithdrawn={(withdrawn) => {
                  setReport(withdrawn);
                  setForm(formFrom(withdrawn));
                }}
              />
            )}
          </div>
        )}
      </>
    );
  }

  const setSection = (s: Section, value: string): void => setForm((f) => ({ ...f, [s]: value }));
  return (
    <form
      class="card report-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (amending) {
          const problem = amendError(reason);
          setReasonError(problem);
          if (problem) document.getElementById('report-reason')?.focus();
          else void amend.run();
        } else {
          setLast('save');
          void save.run();
        }
      }}
    >
      {amending && report && (
        <p class="muted">
          Amending version {report.version}, signed by {report.signed_by_name || report.signed_by}. The new text is signed as version{' '}
          {report.version + 1} with its reason; the earlier PDF stays available.
        </p>
      )}
      {!report && (
        <Field label="Template" id="report-template" hint={species ? `Templates for ${species}; the general template fits any study.` : undefined}>
          <select
            id="report-template"
            value={templateKey}
            disabled={!templates.data}
            onChange={(e) => {
              const key = (e.target as HTMLSelectElement).value;
              const t = templates.data?.find((x) => x.key === key);
              setTemplateKey(key);
              if (t) setForm(formFrom(t));
            }}
          >
            {(templates.data ?? []).map((t) => (
              <option key={t.key} value={t.key}>
                {t.name}
              </option>
            ))}
          </select>
        </Field>
      )}
      {templates.error && !report && <ErrorBanner error={templates.error} />}
      {report && !amending && (
        <p class="report-state small" data-testid="report-state">
          <span class="badge">{report.status}</span> {dirty ? 'Unsaved changes' : `Draft saved ${stamp(report.updated_at)}`} · template{' '}
          {report.template_key}
        </p>
      )}
      {!report && <p class="report-state small muted" data-testid="report-state">Not saved yet</p>}
      <Field label={LABELS.title} id="report-title" error={fieldError(formError ?? amend.error, 'title')}>
        <input id="report-title" value={form.title} onInput={(e) => setSection('title', (e.target as HTMLInputElement).value)} />
      </Field>
      {(['findings', 'conclusion', 'recommendations'] as const).map((s) => (
        <Field key={s} label={LABELS[s]} id={`report-${s}`} error={fieldError(formError ?? amend.error, s)}>
          <textarea
            id={`report-${s}`}
            rows={s === 'findings' ? 8 : 4}
            value={form[s]}
            onInput={(e) => setSection(s, (e.target as HTMLTextAreaElement).value)}
          />
        </Field>
      ))}
      {amending && (
        <Field label="Reason for the amendment" id="report-reason" error={reasonError ?? fieldError(amend.error, 'reason')}>
          <textarea
            id="report-reason"
            rows={2}
            value={reason}
            onInput={(e) => {
              setReason((e.target as HTMLTextAreaElement).value);
              setReasonError(undefined);
            }}
          />
        </Field>
      )}
      {shownError && (
        <div data-testid="report-error" ref={errorRef} tabIndex={-1}>
          <ErrorBanner error={shownError} />
        </div>
      )}
      <div class="actions report-actions">
        {amending ? (
          <>
            <button type="submit" class="primary" disabled={amend.busy}>
              {amend.busy ? 'Signing…' : 'Sign amendment'}
            </button>
            <button type="button" onClick={() => setAmending(false)} disabled={amend.busy}>
              Cancel
            </button>
          </>
        ) : (
          <>
            <button type="submit" disabled={save.busy || sign.busy}>
              {save.busy ? 'Saving…' : 'Save draft'}
            </button>
            {(may.sign || (!report && permissions.includes('reports:sign'))) && (
              <ConfirmButton
                label="Sign"
                class="primary"
                question="Sign this report? It becomes read-only (later changes are amendments)."
                confirmLabel="Sign report"
                busy={sign.busy}
                disabled={save.busy}
                onConfirm={() => {
                  setLast('sign');
                  return sign.run();
                }}
              />
            )}
          </>
        )}
      </div>
    </form>
  );
}

/** A naive UTC timestamp from the API as "YYYY-MM-DD HH:MM UTC". */
function stamp(value: string | null): string {
  if (!value) return '';
  return `${value.replace('T', ' ').slice(0, 16)} UTC`;
}

/**
 * "Withdraw (entered in error)" on a signed report (reports:sign): a modal dialog asks the reason
 * (required: it goes to the practice with the withdrawal), then POST /reports/{id}/withdraw.
 */
function WithdrawButton({ report, onWithdrawn }: { report: ReportRead; onWithdrawn: (r: ReportRead) => void }): JSX.Element {
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [missing, setMissing] = useState<string | undefined>(undefined);
  const withdrawing = useAction(
    (why: string) => post<ReportRead>(`/reports/${report.id}/withdraw`, withdrawBody(why)),
    'Report withdrawn (entered in error)',
  );
  return (
    <>
      <button
        type="button"
        class="danger"
        aria-haspopup="dialog"
        onClick={() => {
          setMissing(undefined);
          dialog.current?.showModal();
        }}
      >
        Withdraw (entered in error)
      </button>
      <dialog ref={dialog} class="void-dialog" aria-labelledby="withdraw-title">
        <form
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            const problem = withdrawError(reason);
            setMissing(problem);
            if (problem) {
              document.getElementById('withdraw-reason')?.focus();
              return;
            }
            const done = await withdrawing.run(reason);
            if (done) {
              dialog.current?.close();
              setReason('');
              onWithdrawn(done);
            }
          }}
        >
          <h2 id="withdraw-title">Withdraw this signed report as entered in error?</h2>
          <p class="small muted">
            The report stays on record, marked withdrawn; the practice-management system is told it was wrong. Its PDF stays in the
            study's images (DICOM has no delete here). The order goes back to the status it had before the report.
          </p>
          <Field label="Reason" id="withdraw-reason" error={missing ?? fieldMessage(withdrawing.error, 'reason')}>
            <textarea
              id="withdraw-reason"
              rows={3}
              maxLength={2000}
              value={reason}
              onInput={(e) => {
                setReason((e.target as HTMLTextAreaElement).value);
                setMissing(undefined);
              }}
            />
          </Field>
          {withdrawing.error && <ErrorBanner error={withdrawing.error} />}
          <div class="row">
            <button type="submit" class="danger" disabled={withdrawing.busy}>
              {withdrawing.busy ? 'Withdrawing…' : 'Withdraw report'}
            </button>
            <button type="button" disabled={withdrawing.busy} onClick={() => dialog.current?.close()}>
              Keep the report
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

function ReportView({ report }: { report: ReportRead }): JSX.Element {
  const withdrawn = isWithdrawn(report.status);
  const label = isSigned(report.status) ? 'Signed report' : withdrawn ? 'Withdrawn report' : 'Report (draft)';
  return (
    <article class={`card report-view${withdrawn ? ' withdrawn' : ''}`} data-testid="report-view" aria-label={label}>
      {withdrawn && (
        <p class="error" role="note" data-testid="report-withdrawn">
          Withdrawn (entered in error){report.withdrawn_by ? ` by ${report.withdrawn_by}` : ''}
          {report.withdrawn_at ? `, ${stamp(report.withdrawn_at)}` : ''}
          {report.withdrawn_reason ? `: ${report.withdrawn_reason}` : ''}
        </p>
      )}
      <h2>{report.title || 'Report'}</h2>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <span class={`badge${isSigned(report.status) ? ' ok' : withdrawn ? ' danger' : ''}`} data-testid="report-status">
            {statusLabel(report.status)}
          </span>
        </dd>
        {(isSigned(report.status) || withdrawn) && (
          <>
            <dt>Signed by</dt>
            <dd data-testid="signed-by">{report.signed_by_name || report.signed_by}</dd>
            <dt>Signed</dt>
            <dd>{stamp(report.signed_at)}</dd>
            <dt>Version</dt>
            <dd data-testid="report-version">{report.version}</dd>
          </>
        )}
        {report.amendment_reason && (
          <>
            <dt>Amended because</dt>
            <dd>{report.amendment_reason}</dd>
          </>
        )}
      </dl>
      {(['findings', 'conclusion', 'recommendations'] as const).map((s) =>
        report[s] ? (
          <section key={s} class="report-section">
            <h3>{LABELS[s]}</h3>
            <p class="report-text" data-section={s}>
              {report[s]}
            </p>
          </section>
        ) : null,
      )}
      {report.pdf_url && (
        <p>
          <a class="button" href={report.pdf_url} data-testid="report-pdf">
            PDF (version {report.version})
          </a>
        </p>
      )}
    </article>
  );
}
