/**
 * Key images (issue 6, item 6): the user flags the image (frame) on screen as a key image
 * (`POST /api/v1/instances/{sop}/key-image` with {frame_number, flagged}); the flags come back with
 * the study's measurements (`GET /api/v1/studies/{uid}/measurements` -> key_images). Pure parts
 * here, for the unit tests; main.ts draws the markers.
 */

export interface KeyImageRow {
  sop_instance_uid: string;
  frame_number: number;
  flagged: boolean;
  username?: string;
}

/** The key of one frame of one instance. */
export const keyOf = (sop: string, frame: number): string => `${sop}|${frame}`;

/** The flagged frames of a listing (rows flagged false are unflagged ones, kept for the audit). */
export function flaggedKeys(rows: readonly KeyImageRow[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const r of rows ?? []) {
    if (r.flagged) out.add(keyOf(r.sop_instance_uid, r.frame_number || 1));
  }
  return out;
}

/** How many flagged frames each series holds, given where each instance lives. */
export function countBySeries(flagged: ReadonlySet<string>, seriesOfSop: (sop: string) => string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const key of flagged) {
    const series = seriesOfSop(key.slice(0, key.lastIndexOf('|')));
    if (series) out.set(series, (out.get(series) ?? 0) + 1);
  }
  return out;
}

/** The request body of a flag change. */
export function keyImageBody(frame: number, flagged: boolean): { frame_number: number; flagged: boolean } {
  if (!Number.isInteger(frame) || frame < 1) throw new RangeError(`frame_number must be 1 or more, not ${frame}`);
  return { frame_number: frame, flagged };
}

export interface ExportResult {
  sop_instance_uid: string;
  series_instance_uid: string;
  sop_class_uid: string;
  measurement_count: number;
  status: string;
  presentation_state_uid: string;
  presentation_series_uid: string;
}

/** The status-bar line of an export. */
export function describeExport(r: ExportResult): string {
  const n = r.measurement_count;
  return (
    `Exported ${n} measurement${n === 1 ? '' : 's'}: SR ${r.sop_instance_uid} ` +
    `(series ${r.series_instance_uid}), presentation state ${r.presentation_state_uid}`
  );
}

/** One key image in reading order: its series (by the study's series order) and stack index. */
export interface KeyStop {
  series: string;
  index: number;
}

/**
 * The key image to go to from `at` (the image on screen) in direction `dir`: the next (or previous)
 * stop in reading order, wrapping around; from an image between stops, the nearest one that way.
 * `stops` must be in reading order (series order, then stack index). Undefined when there is none.
 */
export function stepKeyImage(stops: readonly KeyStop[], seriesOrder: readonly string[], at: KeyStop, dir: 1 | -1): KeyStop | undefined {
  if (!stops.length) return undefined;
  const rank = (s: KeyStop): [number, number] => [seriesOrder.indexOf(s.series), s.index];
  const cmp = (a: KeyStop, b: KeyStop): number => {
    const [ra, rb] = [rank(a), rank(b)];
    return ra[0] - rb[0] || ra[1] - rb[1];
  };
  if (dir === 1) return stops.find((s) => cmp(s, at) > 0) ?? stops[0];
  return [...stops].reverse().find((s) => cmp(s, at) < 0) ?? stops[stops.length - 1];
}
