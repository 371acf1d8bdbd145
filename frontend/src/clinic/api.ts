/**
 * The clinic app's client for our REST API (/api/v1) and health, same origin, session cookie.
 *
 * Every request is marked X-Requested-With (no browser password dialog on a 401); a 401 sends the
 * browser to the sign-in page and back; any other error becomes an ApiError carrying the problem
 * document's detail and, for a 422, the field errors (shown next to the fields by forms).
 */

export const API = '/api/v1';
export const LOGIN = '/viewer/login';
const SCRIPT_HEADERS = { 'X-Requested-With': 'XMLHttpRequest' } as const;

export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The message for one body field (the last part of a 422 error's loc), if any. */
  fieldError(field: string): string | undefined {
    const found = this.errors.find((e) => String(e.loc[e.loc.length - 1]) === field);
    return found ? found.msg : undefined;
  }
}

export function toLogin(): never {
  const next = location.pathname + location.search + location.hash;
  location.assign(`${LOGIN}?next=${encodeURIComponent(next)}`);
  throw new ApiError(401, 'not signed in');
}

export type Query = Record<string, string | number | boolean | undefined | null | (string | number)[]>;

/** `?a=1&b=2` from the defined, non-empty values (arrays repeat the key). */
export function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, String(v)));
    else params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function failure(response: Response): Promise<ApiError> {
  let detail = `${response.status} ${response.statusText}`;
  let errors: FieldError[] = [];
  try {
    const body = (await response.json()) as { detail?: string; title?: string; errors?: FieldError[] };
    detail = body.detail || body.title || detail;
    if (Array.isArray(body.errors)) errors = body.errors;
  } catch {
    /* not JSON: keep the status line */
  }
  if (response.status === 429) {
    const retry = response.headers.get('Retry-After');
    if (retry) detail += ` (try again in ${retry} s)`;
  }
  return new ApiError(response.status, detail, errors);
}

/** Call the API; path is below /api/v1 (e.g. `/animals`) or absolute (starting with `/health`...). */
export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
  extraHeaders: Record<string, string> = {},
): Promise<T> {
  const url = path.startsWith('/api/') || path.startsWith('/health') || path.startsWith('/dicom-web') ? path : API + path;
  const headers: Record<string, string> = { Accept: 'application/json', ...SCRIPT_HEADERS, ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (response.status === 401) toLogin();
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return undefined as T;
  const type = response.headers.get('Content-Type') ?? '';
  return (type.includes('json') ? await response.json() : await response.text()) as T;
}

export const get = <T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> =>
  request<T>('GET', path + queryString(query), undefined, signal);
export const post = <T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> =>
  request<T>('POST', path, body ?? {}, undefined, headers);
export const patch = <T>(path: string, body: unknown): Promise<T> => request<T>('PATCH', path, body);
export const put = <T>(path: string, body: unknown): Promise<T> => request<T>('PUT', path, body);
export const del = <T = void>(path: string): Promise<T> => request<T>('DELETE', path);

export interface Me {
  id: number;
  username: string;
  display_name: string;
  role: string;
  via: string;
  permissions: string[];
}

export const viewerUrl = (studyUid: string, priorUid?: string): string =>
  `/viewer/?StudyInstanceUID=${encodeURIComponent(studyUid)}` +
  (priorUid ? `&prior=${encodeURIComponent(priorUid)}` : '');

export const thumbnailUrl = (studyUid: string): string =>
  `/dicom-web/studies/${encodeURIComponent(studyUid)}/thumbnail?viewport=128,128`;
