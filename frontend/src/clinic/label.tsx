/** The worklist label printed for an order: animal, species/breed, owner, accession (with a Code 128 barcode), procedures, station and time. */
import type { JSX } from 'preact';
import { code128Svg } from './label-code128';

export interface LabelData {
  animal: string;
  patientId: string;
  speciesBreed: string;
  owner: string;
  accession: string;
  procedures: string[];
  station: string;
  time: string;
  priority: string;
}

export function WorklistLabel({ data }: { data: LabelData }): JSX.Element {
  let svg = '';
  try {
    svg = code128Svg(data.accession, 48, 2);
  } catch {
    svg = ''; // an accession outside printable ASCII: the label shows the text only
  }
  return (
    <div class="worklist-label" data-testid="worklist-label">
      <div class="big">
        {data.animal} {data.priority !== 'ROUTINE' && <span>· {data.priority}</span>}
      </div>
      <div>{data.speciesBreed}</div>
      <div>Owner: {data.owner || '—'}</div>
      <div>Patient ID: {data.patientId}</div>
      <div class="big mono">Acc. {data.accession}</div>
      {svg && <div class="barcode" dangerouslySetInnerHTML={{ __html: svg }} />}
      <div>{data.procedures.join(', ')}</div>
      <div>{data.station ? `${data.station} · ${data.time}` : 'Not scheduled yet'}</div>
    </div>
  );
}
