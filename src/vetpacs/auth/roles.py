"""Roles, permissions and the acting principal that every service call and audit row carries."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vetpacs.errors import Forbidden


class Role(StrEnum):
    """What a user is in the clinic; each role grants a fixed set of permissions."""

    ADMIN = "admin"
    VETERINARIAN = "veterinarian"
    RADIOLOGIST = "radiologist"
    TECHNICIAN = "technician"
    FRONT_DESK = "front_desk"
    INTEGRATION = "integration"  # a PMS or another system calling the API with a token
    EXTERNAL_READER = "external_reader"  # a remote radiologist or specialist


class Permission(StrEnum):
    """One thing a principal may do. Routes ask for exactly one."""

    IMAGES_READ = "images:read"  # QIDO, WADO, rendered, thumbnails, C-FIND/C-MOVE via web tools
    IMAGES_WRITE = "images:write"  # STOW-RS, import
    IMAGES_DELETE = "images:delete"
    PATIENTS_READ = "patients:read"
    PATIENTS_WRITE = "patients:write"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    REPORTS_READ = "reports:read"
    REPORTS_WRITE = "reports:write"
    REPORTS_SIGN = "reports:sign"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    AUDIT_READ = "audit:read"
    USERS_MANAGE = "users:manage"
    SYSTEM_MANAGE = "system:manage"  # modalities, settings, integrations


_READ_CLINICAL = {
    Permission.IMAGES_READ,
    Permission.PATIENTS_READ,
    Permission.ORDERS_READ,
    Permission.REPORTS_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.VETERINARIAN: frozenset(
        _READ_CLINICAL
        | {
            Permission.IMAGES_WRITE,
            Permission.PATIENTS_WRITE,
            Permission.ORDERS_WRITE,
            Permission.REPORTS_WRITE,
            Permission.REPORTS_SIGN,
            Permission.BILLING_READ,
        }
    ),
    Role.RADIOLOGIST: frozenset(
        _READ_CLINICAL | {Permission.IMAGES_WRITE, Permission.REPORTS_WRITE, Permission.REPORTS_SIGN}
    ),
    Role.TECHNICIAN: frozenset(
        _READ_CLINICAL | {Permission.IMAGES_WRITE, Permission.PATIENTS_WRITE, Permission.ORDERS_WRITE}
    ),
    Role.FRONT_DESK: frozenset(
        {
            Permission.PATIENTS_READ,
            Permission.PATIENTS_WRITE,
            Permission.ORDERS_READ,
            Permission.ORDERS_WRITE,
            Permission.BILLING_READ,
            Permission.BILLING_WRITE,
        }
    ),
    Role.INTEGRATION: frozenset(
        _READ_CLINICAL
        | {
            Permission.IMAGES_WRITE,
            Permission.PATIENTS_WRITE,
            Permission.ORDERS_WRITE,
            Permission.BILLING_READ,
            Permission.BILLING_WRITE,
        }
    ),
    Role.EXTERNAL_READER: frozenset(
        {Permission.IMAGES_READ, Permission.REPORTS_READ, Permission.REPORTS_WRITE, Permission.REPORTS_SIGN}
    ),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user (by password session, API token or HTTP Basic) or the system itself.

    Every write service takes ``actor=`` and every audit row records it.
    """

    username: str
    role: Role
    user_id: int | None = None
    address: str = ""  # client IP address
    via: str = ""  # "session", "token", "basic", "dicom", "hl7", "cli", "system"

    def can(self, permission: Permission) -> bool:
        """Whether this actor's role grants ``permission``."""
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        """Raise Forbidden unless this actor's role grants ``permission`` (services check it too,
        not only the routes, so a CLI or worker call is held to the same rule)."""
        if not self.can(permission):
            raise Forbidden(f"role {self.role.value} lacks permission {permission.value}")


SYSTEM = Actor(username="system", role=Role.ADMIN, via="system")
