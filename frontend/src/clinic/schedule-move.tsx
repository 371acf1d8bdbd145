/** The keyboard (and screen reader) way to book or move a step: station, day and start time in a small form. */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { StationRead } from './order-model';
import { toMinutes } from './schedule-slots';
import { Field } from './ui';

export interface MoveTarget {
  stepId: number;
  title: string; // e.g. 'A2611290001 Thorax, 2 views (Rex)'
  modality: string;
  stationId: number | null;
  day: string;
  time: string; // HH:MM
}

export function MoveForm(props: {
  target: MoveTarget;
  stations: StationRead[];
  busy: boolean;
  error?: string;
  onMove: (stationId: number, day: string, minutes: number) => void;
  onCancel: () => void;
}): JSX.Element {
  const { target } = props;
  const fitting = props.stations.filter((s) => s.modality === target.modality);
  const [stationId, setStationId] = useState<number | undefined>(target.stationId ?? fitting[0]?.id);
  const [day, setDay] = useState(target.day);
  const [time, setTime] = useState(target.time);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const first = useRef<HTMLSelectElement>(null);
  useEffect(() => first.current?.focus(), [target.stepId]);
  return (
    <form
      class="card move-form"
      aria-label={`Move ${target.title}`}
      onSubmit={(e) => {
        e.preventDefault();
        if (!stationId) return setProblem(`no active ${target.modality} station`);
        if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return setProblem('choose a day');
        if (!/^\d{2}:\d{2}$/.test(time)) return setProblem('choose a start time (HH:MM)');
        setProblem(undefined);
        props.onMove(stationId, day, toMinutes(time));
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') props.onCancel();
      }}
    >
      <h2>{target.stationId ? 'Move' : 'Book'} {target.title}</h2>
      <Field label={`${target.modality} station`} id="move-station">
        <select id="move-station" ref={first} value={stationId ?? ''} onChange={(e) => setStationId(Number(e.currentTarget.value) || undefined)}>
          {fitting.length === 0 && <option value="">No {target.modality} station</option>}
          {fitting.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      </Field>
      <div class="row">
        <Field label="Day" id="move-day">
          <input id="move-day" type="date" value={day} onInput={(e) => setDay(e.currentTarget.value)} />
        </Field>
        <Field label="Start" id="move-time" error={problem ?? props.error}>
          <input id="move-time" type="time" step={300} value={time} onInput={(e) => setTime(e.currentTarget.value)} />
        </Field>
      </div>
      <div class="row">
        <button type="submit" class="primary" disabled={props.busy}>
          {props.busy ? 'Saving…' : target.stationId ? 'Move' : 'Book'}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
