/**
 * Administration (/admin, /admin/:section): a side navigation of sections (users and roles,
 * modality units and rooms, DICOM destinations, procedure catalog, species and breeds, integration
 * partners, HL7 message log, audit log, system health), each shown only with its permission (the
 * API enforces them anyway). The sections live in admin-*.tsx.
 */
import type { JSX } from 'preact';
import { AuditSection, SystemSection } from '../admin-audit';
import { ProceduresSection, SpeciesSection, StationsSection } from '../admin-catalog';
import { DestinationsSection, Hl7Section, IntegrationsSection } from '../admin-integration';
import { SECTIONS } from '../admin-model';
import { UsersSection } from '../admin-users';
import { Link } from '../router';
import { can, type ScreenProps } from '../screen';

const VIEWS: Record<string, () => JSX.Element> = {
  users: UsersSection,
  stations: StationsSection,
  destinations: DestinationsSection,
  procedures: ProceduresSection,
  species: SpeciesSection,
  integrations: IntegrationsSection,
  hl7: Hl7Section,
  audit: AuditSection,
  system: SystemSection,
};

export function AdminScreen({ params, me }: ScreenProps): JSX.Element {
  const allowed = SECTIONS.filter((s) => can(me, s.permission));
  const key = params.section ?? allowed[0]?.key ?? 'system';
  const section = SECTIONS.find((s) => s.key === key);
  const View = VIEWS[key];
  let body: JSX.Element;
  if (!section || !View) {
    body = (
      <>
        <h1>Unknown section</h1>
        <p>
          There is no “{key}” section. <Link to="/admin">Back to administration</Link>
        </p>
      </>
    );
  } else if (!can(me, section.permission)) {
    body = (
      <>
        <h1>{section.label}</h1>
        <p class="error" role="alert">
          You do not have the {section.permission} permission needed here.
        </p>
      </>
    );
  } else {
    body = <View />;
  }
  return (
    <div class="admin">
      <nav class="admin-nav" aria-label="Administration">
        <ul>
          {allowed.map((s) => (
            <li key={s.key}>
              <Link to={`/admin/${s.key}`} aria-current={s.key === key ? 'page' : undefined}>
                {s.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <section class="admin-body">{body}</section>
    </div>
  );
}
