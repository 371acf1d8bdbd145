/** The "Priors of this animal" list under the series list (priors.ts). */
import { type DicomJson, getJson } from './dicomweb';
import { listPriors, priorHref, priorsQuery, priorText } from './priors';
import { $, setStatus, state } from './viewer-state';

/** The animal's other studies from the archive; each opens beside this one (priors.ts). */
export async function showPriors(study: DicomJson): Promise<void> {
  const list = $('#prior-list');
  const query = priorsQuery(study);
  if (!query) {
    list.replaceChildren();
    return;
  }
  let priors;
  try {
    priors = listPriors(await getJson(query), state.studyUid);
  } catch (e) {
    setStatus(`Priors not listed: ${(e as Error).message}`);
    return;
  }
  $('#priors').hidden = false;
  list.replaceChildren(
    ...priors.map((p) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = priorHref(location.search, state.studyUid, p.uid);
      a.textContent = priorText(p);
      a.title = `Open beside this study${p.accession ? ` (accession ${p.accession})` : ''}`;
      a.dataset.study = p.uid;
      if (p.uid === state.priorUidOpen) a.setAttribute('aria-current', 'true');
      li.append(a);
      return li;
    }),
  );
  if (!priors.length) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = 'No other study of this animal in the archive';
    list.append(li);
  }
}
