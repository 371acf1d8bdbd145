/**
 * Administration: users and roles (GET/POST /users, disable/enable, password reset) and their API
 * tokens (issue: the secret shown once; revoke). Needs users:manage.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ConfirmButton, SecretOnce, when, FormError } from './admin-kit';
import { conflictMessage, fieldMessage, ROLES } from './admin-model';
import { del, get, post } from './api';
import { Empty, ErrorBanner, Field, Loading, useAction, useAsync } from './ui';

interface User {
  id: number;
  username: string;
  display_name: string;
  role: string;
  disabled: boolean;
  created_at: string;
  last_login_at: string | null;
}

interface Token {
  id: number;
  username: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

const roleName = (role: string): string => ROLES.find(([r]) => r === role)?.[1] ?? role;

function AddUser({ onAdded }: { onAdded: () => void }): JSX.Element {
  const empty = { username: '', display_name: '', role: 'technician', password: '' };
  const [form, setForm] = useState(empty);
  const [secret, setSecret] = useState<{ username: string; password: string } | undefined>(undefined);
  const create = useAction(
    () =>
      post<User & { password: string | null }>('/users', {
        username: form.username.trim(),
        display_name: form.display_name.trim(),
        role: form.role,
        password: form.password || null,
      }),
    (u) => `User ${u.username} added`,
  );
  const set = (key: keyof typeof empty) => (e: Event) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value });
  return (
    <form
      class="card admin-form"
      noValidate
      aria-labelledby="add-user-title"
      onSubmit={async (e) => {
        e.preventDefault();
        const user = await create.run();
        if (user) {
          if (user.password) setSecret({ username: user.username, password: user.password });
          setForm(empty);
          onAdded();
        }
      }}
    >
      <h2 id="add-user-title">Add a user</h2>
      <div class="row">
        <Field
          label="Username"
          id="user-username"
          error={fieldMessage(create.error, 'username') || conflictMessage(create.error)}
          hint="For signing in, e.g. anna.berg"
        >
          <input id="user-username" value={form.username} onInput={set('username')} required autoComplete="off" />
        </Field>
        <Field label="Display name" id="user-display" error={fieldMessage(create.error, 'display_name')}>
          <input id="user-display" value={form.display_name} onInput={set('display_name')} />
        </Field>
        <Field label="Role" id="user-role" error={fieldMessage(create.error, 'role')}>
          <select id="user-role" value={form.role} onChange={set('role')}>
            {ROLES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        <Field
          label="Temporary password"
          id="user-password"
          error={fieldMessage(create.error, 'password')}
          hint="At least 8 characters; leave empty to generate one"
        >
          <input id="user-password" type="password" value={form.password} onInput={set('password')} autoComplete="new-password" />
        </Field>
      </div>
      <button type="submit" class="primary" disabled={create.busy}>
        {create.busy ? 'Adding…' : 'Add user'}
      </button>
      <FormError error={create.error} />
      {secret && (
        <SecretOnce label={`Password for ${secret.username}`} value={secret.password} onDone={() => setSecret(undefined)} />
      )}
    </form>
  );
}

function Tokens({ user }: { user: User }): JSX.Element {
  const tokens = useAsync((signal) => get<Token[]>(`/users/${encodeURIComponent(user.username)}/tokens`, undefined, signal), [user.username]);
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [issued, setIssued] = useState<string | undefined>(undefined);
  const issue = useAction(
    () =>
      post<Token & { token: string }>(`/users/${encodeURIComponent(user.username)}/tokens`, {
        name: name.trim(),
        expires_days: days ? Number(days) : null,
      }),
    'Token issued',
  );
  const revoke = useAction((id: number) => del(`/users/${encodeURIComponent(user.username)}/tokens/${id}`), 'Token revoked');
  const base = `token-${user.id}`;
  return (
    <div class="tokens">
      <h3>API tokens of {user.username}</h3>
      <ErrorBanner error={tokens.error} />
      {tokens.data && tokens.data.length === 0 && <Empty>No tokens.</Empty>}
      {tokens.data && tokens.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Starts with</th>
              <th>Created</th>
              <th>Last used</th>
              <th>Expires</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.data.map((t) => (
              <tr key={t.id}>
                <td>{t.name || '—'}</td>
                <td class="mono">{t.prefix}…</td>
                <td>{when(t.created_at)}</td>
                <td>{when(t.last_used_at) || 'never'}</td>
                <td>{when(t.expires_at) || 'never'}</td>
                <td>{t.revoked_at ? <span class="badge danger">revoked</span> : <span class="badge ok">active</span>}</td>
                <td>
                  {!t.revoked_at && (
                    <ConfirmButton
                      label="Revoke"
                      question={`Revoke ${t.name || t.prefix}? Programs using it stop at once.`}
                      confirmLabel="Revoke"
                      busy={revoke.busy}
                      onConfirm={async () => {
                        await revoke.run(t.id);
                        tokens.reload();
                      }}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="row"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          const t = await issue.run();
          if (t) {
            setIssued(t.token);
            setName('');
            setDays('');
            tokens.reload();
          }
        }}
      >
        <Field label="Token name" id={`${base}-name`} error={fieldMessage(issue.error, 'name')} hint="What uses it, e.g. PMS">
          <input id={`${base}-name`} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Expires after (days)" id={`${base}-days`} error={fieldMessage(issue.error, 'expires_days')} hint="Empty: never">
          <input
            id={`${base}-days`}
            type="number"
            min={1}
            max={3650}
            value={days}
            onInput={(e) => setDays((e.target as HTMLInputElement).value)}
          />
        </Field>
        <button type="submit" class="primary" disabled={issue.busy}>
          {issue.busy ? 'Issuing…' : 'Issue token'}
        </button>
      </form>
      <FormError error={issue.error || revoke.error} />
      {issued && <SecretOnce label={`API token for ${user.username}`} value={issued} onDone={() => setIssued(undefined)} />}
    </div>
  );
}

function UserRow({ user, onChanged }: { user: User; onChanged: () => void }): JSX.Element {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState<string | undefined>(undefined);
  const toggle = useAction(
    () => post<User>(`/users/${encodeURIComponent(user.username)}/${user.disabled ? 'enable' : 'disable'}`),
    `${user.username} ${user.disabled ? 'enabled' : 'disabled'}`,
  );
  const reset = useAction(
    () => post<{ password: string | null }>(`/users/${encodeURIComponent(user.username)}/password`, {}),
    `New password for ${user.username}`,
  );
  return (
    <>
      <tr data-user={user.username}>
        <td>
          <strong>{user.username}</strong>
          {user.display_name && <div class="muted small">{user.display_name}</div>}
        </td>
        <td>{roleName(user.role)}</td>
        <td>{user.disabled ? <span class="badge danger">disabled</span> : <span class="badge ok">active</span>}</td>
        <td>{when(user.last_login_at) || 'never'}</td>
        <td class="actions">
          {user.disabled ? (
            <button
              type="button"
              disabled={toggle.busy}
              onClick={async () => {
                if (await toggle.run()) onChanged();
              }}
            >
              Enable
            </button>
          ) : (
            <ConfirmButton
              label="Disable"
              question={`Disable ${user.username}? Their sessions and tokens stop working.`}
              confirmLabel="Disable"
              busy={toggle.busy}
              onConfirm={async () => {
                if (await toggle.run()) onChanged();
              }}
            />
          )}
          <ConfirmButton
            label="Reset password"
            question={`Give ${user.username} a new generated password? Their sessions end.`}
            confirmLabel="Reset"
            busy={reset.busy}
            onConfirm={async () => {
              const r = await reset.run();
              if (r?.password) setPassword(r.password);
            }}
          />
          <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
            Tokens
          </button>
        </td>
      </tr>
      {(password || open || toggle.error || reset.error) && (
        <tr>
          <td colSpan={5}>
            <ErrorBanner error={toggle.error || reset.error} />
            {password && (
              <SecretOnce label={`New password for ${user.username}`} value={password} onDone={() => setPassword(undefined)} />
            )}
            {open && <Tokens user={user} />}
          </td>
        </tr>
      )}
    </>
  );
}

export function UsersSection(): JSX.Element {
  const users = useAsync((signal) => get<User[]>('/users', undefined, signal), []);
  return (
    <>
      <h1>Users and roles</h1>
      <AddUser onAdded={users.reload} />
      <ErrorBanner error={users.error} />
      {!users.data && users.loading && <Loading />}
      {users.data && (
        <table class="admin-table">
          <caption class="sr-only">Users</caption>
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              <th>Status</th>
              <th>Last sign-in</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.data.map((u) => (
              <UserRow key={u.id} user={u} onChanged={users.reload} />
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
