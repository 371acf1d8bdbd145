/**
 * Billing (/billing, /billing/:part): the fee list and the missed-charge report, as two tabs whose
 * part is in the URL. Reading needs billing:read, changing the fee list and charging billing:write
 * (the API enforces both anyway). The parts live in billing-fees.tsx and billing-missed.tsx.
 */
import type { JSX } from 'preact';
import { FeesPart } from '../billing-fees';
import { MissedPart } from '../billing-missed';
import { PARTS, partOf } from '../billing-model';
import { Link } from '../router';
import { can, type ScreenProps } from '../screen';

export function BillingScreen({ params, location, me }: ScreenProps): JSX.Element {
  if (!can(me, 'billing:read')) {
    return (
      <section>
        <h1>Billing</h1>
        <p class="error" role="alert">
          You do not have the billing:read permission needed here.
        </p>
      </section>
    );
  }
  const part = partOf(params.part);
  const canWrite = can(me, 'billing:write');
  return (
    <section class="billing">
      <div class="screen-head">
        <h1>Billing</h1>
      </div>
      <nav class="tabs" aria-label="Billing">
        {PARTS.map((p) => (
          <Link key={p.key} to={`/billing/${p.key}`} aria-current={p.key === part ? 'page' : undefined}>
            {p.label}
          </Link>
        ))}
      </nav>
      {part === 'fees' ? (
        <FeesPart canWrite={canWrite} focus={location.query.get('fee') ?? undefined} />
      ) : part === 'missed' ? (
        <MissedPart canWrite={canWrite} />
      ) : (
        <p>
          There is no “{params.part}” part. <Link to="/billing">Back to billing</Link>
        </p>
      )}
    </section>
  );
}
