import { describe, expect, it, vi } from 'vitest';
import { actionsOf, chipOf, clock, lanesOf, openingText, summaryOf, timeRange, type DayEntry, type StationDay } from '../src/clinic/board-model';
import { backoff, batcher, parseEvent } from '../src/clinic/live';

function entry(over: Partial<DayEntry> & { status?: DayEntry['step']['status']; start?: string; id?: number } = {}): DayEntry {
  const { status = 'SCHEDULED', start = '2026-11-29T09:00:00', id = 1, ...rest } = over;
  return {
    step: {
      id,
      order_id: 10 + id,
      procedure_id: 1,
      procedure_code: 'DX-THX',
      procedure_name: 'Thorax 2 views',
      step_id: 'SPS1',
      station_id: 1,
      modality: 'DX',
      start,
      end: start.replace(/T(\d{2}):(\d{2})/, (_m, h: string, mm: string) => `T${h}:${String(Number(mm) + 15).padStart(2, '0')}`),
      duration_minutes: 15,
      status,
    },
    accession_number: 'A1',
    order_status: 'scheduled',
    priority: 'ROUTINE',
    animal_id: 1,
    animal_name: 'Rex',
    ...rest,
  };
}

const station = (id: number, name: string, modality: string): StationDay['station'] => ({
  id,
  name,
  ae_title: name.toUpperCase(),
  station_name: '',
  modality,
  location: '',
  opening_hours: {},
  active: true,
});

describe('status chip', () => {
  it('follows the step, the order and the images, most advanced first', () => {
    expect(chipOf(entry()).label).toBe('scheduled');
    expect(chipOf(entry({ order_status: 'arrived', status: 'ARRIVED' })).kind).toBe('arrived');
    expect(chipOf(entry({ order_status: 'arrived' })).kind).toBe('arrived');
    expect(chipOf(entry({ order_status: 'in_progress', status: 'IN PROGRESS' })).label).toBe('in progress');
    expect(chipOf(entry({ order_status: 'completed', status: 'COMPLETED' })).label).toBe('completed');
    expect(chipOf(entry({ order_status: 'completed', status: 'COMPLETED', images: 3 })).label).toBe('images received (3 images)');
    expect(chipOf(entry({ order_status: 'images_received', images: 1 })).label).toBe('images received (1 image)');
    expect(chipOf(entry({ order_status: 'reported' })).label).toBe('images received');
    expect(chipOf(entry({ order_status: 'no_show' })).kind).toBe('no-show');
    expect(chipOf(entry({ order_status: 'discontinued', status: 'DISCONTINUED' })).kind).toBe('discontinued');
    expect(chipOf(entry({ status: 'CANCELLED', order_status: 'cancelled' })).kind).toBe('cancelled');
  });
});

describe('card actions', () => {
  it('offers Arrived and No-show before the procedure starts, images once they are there', () => {
    expect(actionsOf(entry())).toEqual({ arrived: true, noShow: true, images: false });
    expect(actionsOf(entry({ order_status: 'arrived', status: 'ARRIVED' }))).toEqual({ arrived: false, noShow: true, images: false });
    expect(actionsOf(entry({ order_status: 'in_progress', status: 'IN PROGRESS' }))).toEqual({ arrived: false, noShow: false, images: false });
    expect(actionsOf(entry({ order_status: 'images_received', status: 'COMPLETED', study_uid: '1.2', images: 2 })).images).toBe(true);
    expect(actionsOf(entry({ order_status: 'scheduled', study_uid: '1.2', images: 0 })).images).toBe(false);
  });
});

describe('times', () => {
  it('shows the local clinic time as sent, without time-zone shifts', () => {
    expect(clock('2026-11-29T09:05:00')).toBe('09:05');
    expect(clock(null)).toBe('');
    expect(timeRange({ start: '2026-11-29T09:00:00', end: '2026-11-29T09:15:00' })).toBe('09:00–09:15');
    expect(timeRange({ start: null, end: null })).toBe('unscheduled');
    expect(openingText({ always_open: true, opening_hours: [] })).toBe('always open');
    expect(openingText({ always_open: false, opening_hours: [] })).toBe('closed');
    expect(openingText({ always_open: false, opening_hours: [['08:00', '12:00'], ['13:00', '17:00']] })).toBe('08:00–12:00, 13:00–17:00');
  });
});

describe('lanes', () => {
  const days: StationDay[] = [
    { station: station(2, 'US room', 'US'), day: '2026-11-29', always_open: true, opening_hours: [], entries: [] },
    {
      station: station(1, 'X-ray 1', 'DX'),
      day: '2026-11-29',
      always_open: false,
      opening_hours: [['08:00', '18:00']],
      entries: [
        entry({ id: 1, start: '2026-11-29T10:00:00' }),
        entry({ id: 2, start: '2026-11-29T09:00:00' }),
        entry({ id: 3, start: '2026-11-29T09:00:00', priority: 'STAT', order_status: 'completed', status: 'COMPLETED' }),
      ],
    },
  ];
  it('keeps stations with bookings, by time with STAT first, and lists idle ones apart', () => {
    const { lanes, idle } = lanesOf(days);
    expect(lanes.map((l) => l.station.name)).toEqual(['X-ray 1']);
    expect(lanes[0].entries.map((e) => e.step.id)).toEqual([3, 2, 1]);
    expect(idle.map((s) => s.name)).toEqual(['US room']);
    expect(summaryOf(lanes)).toEqual({ total: 3, waiting: 2, done: 1 });
    expect(lanesOf(days, 'US').lanes).toEqual([]);
  });
});

describe('live channel helpers', () => {
  it('parses event payloads and refuses garbage', () => {
    expect(parseEvent('order.status_changed', '{"id":"7","type":"order.status_changed","aggregate_type":"order","aggregate_id":"3","at":"x"}')).toEqual({
      id: '7',
      type: 'order.status_changed',
      aggregate_type: 'order',
      aggregate_id: '3',
      at: 'x',
    });
    expect(parseEvent('x', 'not json')).toBeUndefined();
  });
  it('batches a burst into one call', () => {
    vi.useFakeTimers();
    const calls: number[][] = [];
    const b = batcher<number>(100, (items) => calls.push(items));
    b.push(1);
    b.push(2);
    vi.advanceTimersByTime(99);
    expect(calls).toEqual([]);
    b.push(3);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([[1, 2, 3]]);
    b.push(4);
    b.cancel();
    vi.advanceTimersByTime(500);
    expect(calls).toEqual([[1, 2, 3]]);
    vi.useRealTimers();
  });
  it('backs off up to a minute', () => {
    expect(backoff(0)).toBe(2000);
    expect(backoff(2)).toBe(8000);
    expect(backoff(20)).toBe(60000);
  });
});
