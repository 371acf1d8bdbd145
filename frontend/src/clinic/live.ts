/**
 * The live channel of the clinic app: Server-Sent Events of domain events from /api/v1/events
 * (`event: order.status_changed`, `data: {"id","type","aggregate_type","aggregate_id","at"}`; no
 * patient data). A screen names the event types it cares about and gets one debounced callback per
 * burst (it refetches what it shows), plus the channel's state for a "live / reconnecting…" badge.
 *
 * EventSource reconnects by itself (sending Last-Event-ID) while the server answers; when the
 * server refuses the stream (404 before the endpoint exists, 401 after sign-out, a proxy that
 * buffers...) the browser closes it for good, so we open a new one after a back-off. Screens keep
 * a slow timer as well: the live channel speeds updates up, it is not the only way they arrive.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

export const EVENTS_URL = '/api/v1/events';
/** The fallback refresh of live screens (the live channel may be down). */
export const POLL_MS = 30_000;

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface DomainEvent {
  id: string;
  type: string;
  aggregate_type: string;
  aggregate_id: string;
  at: string;
}

/** Parse one SSE `data:` payload; undefined when it is not the event shape we expect. */
export function parseEvent(type: string, data: string): DomainEvent | undefined {
  try {
    const value = JSON.parse(data) as Partial<DomainEvent>;
    if (!value || typeof value !== 'object') return undefined;
    return {
      id: String(value.id ?? ''),
      type: String(value.type ?? type),
      aggregate_type: String(value.aggregate_type ?? ''),
      aggregate_id: String(value.aggregate_id ?? ''),
      at: String(value.at ?? ''),
    };
  } catch {
    return undefined;
  }
}

/**
 * Collects calls and runs `fn` once, `wait` ms after the first call of a burst (not after the last:
 * a steady stream of events still refreshes the screen every `wait` ms).
 */
export function batcher<T>(wait: number, fn: (items: T[]) => void): { push: (item: T) => void; cancel: () => void } {
  let pending: T[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    push(item: T): void {
      pending.push(item);
      if (timer === undefined) {
        timer = setTimeout(() => {
          const items = pending;
          pending = [];
          timer = undefined;
          fn(items);
        }, wait);
      }
    },
    cancel(): void {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      pending = [];
    },
  };
}

/** Back-off before reopening a stream the browser closed: 2 s, 4 s, 8 s ... up to 60 s. */
export function backoff(attempt: number): number {
  return Math.min(60_000, 2000 * 2 ** Math.max(0, attempt));
}

/**
 * Subscribe to domain events of the given types; `onEvents` runs (debounced by `wait` ms) with the
 * events of a burst, and once after a reconnection (events may have been missed meanwhile).
 */
export function useLiveEvents(types: string[], onEvents: (events: DomainEvent[]) => void, wait = 400): LiveState {
  const [state, setState] = useState<LiveState>('connecting');
  const callback = useRef(onEvents);
  callback.current = onEvents;
  const key = types.join(',');
  useEffect(() => {
    if (typeof EventSource === 'undefined') {
      setState('offline');
      return undefined;
    }
    let source: EventSource | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let stopped = false;
    let wasLive = false;
    const batch = batcher<DomainEvent>(wait, (events) => callback.current(events));
    const open = (): void => {
      source = new EventSource(EVENTS_URL, { withCredentials: true });
      source.onopen = () => {
        attempt = 0;
        setState('live');
        // after a gap, refetch: Last-Event-ID replays what the server kept, but not everything
        if (wasLive) batch.push({ id: '', type: 'reconnected', aggregate_type: '', aggregate_id: '', at: '' });
        wasLive = true;
      };
      source.onerror = () => {
        if (stopped || !source) return;
        if (source.readyState === EventSource.CLOSED) {
          setState('offline');
          source.close();
          retry = setTimeout(open, backoff(attempt++));
        } else {
          setState('reconnecting');
        }
      };
      for (const type of types) {
        source.addEventListener(type, (message) => {
          const event = parseEvent(type, (message as MessageEvent<string>).data);
          if (event) batch.push(event);
        });
      }
    };
    open();
    return () => {
      stopped = true;
      batch.cancel();
      if (retry !== undefined) clearTimeout(retry);
      source?.close();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, wait]);
  return state;
}

/** Run `fn` every `ms` milliseconds while the page is visible, and when it becomes visible again. */
export function usePolling(fn: () => void, ms: number): void {
  const callback = useRef(fn);
  callback.current = fn;
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') callback.current();
    }, ms);
    const onVisible = (): void => {
      if (document.visibilityState === 'visible') callback.current();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [ms]);
}

const LABELS: Record<LiveState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  offline: `offline: refreshing every ${POLL_MS / 1000} s`,
};

export function liveLabel(state: LiveState): string {
  return LABELS[state];
}
