/**
 * Which earlier study to compare with: the newest study of the same animal before this one,
 * preferring the same modality and body region, then the same modality, then any earlier study.
 */
import type { StudyHit } from './search-model';

type Study = Pick<StudyHit, 'study_uid' | 'study_date' | 'modalities' | 'body_parts'>;

const overlaps = (a: string[], b: string[]): boolean => {
  const set = new Set(a.map((x) => x.toUpperCase()));
  return b.some((x) => set.has(x.toUpperCase()));
};

/** The prior for `current` among `studies` (any order), or undefined when there is none. */
export function choosePrior<T extends Study>(current: Study, studies: T[]): T | undefined {
  if (!current.study_date) return undefined;
  const earlier = studies
    .filter((s) => s.study_uid !== current.study_uid && s.study_date && s.study_date < current.study_date!)
    .sort((a, b) => (b.study_date! < a.study_date! ? -1 : b.study_date! > a.study_date! ? 1 : 0));
  const sameModality = earlier.filter((s) => overlaps(s.modalities, current.modalities));
  return (
    sameModality.find((s) => current.body_parts.length > 0 && overlaps(s.body_parts, current.body_parts)) ??
    sameModality[0] ??
    earlier[0]
  );
}
