"""Users, roles, API tokens, permission checks and the audit log."""

from vetpacs.auth.roles import ROLE_PERMISSIONS, SYSTEM, Actor, Permission, Role

__all__ = ["ROLE_PERMISSIONS", "SYSTEM", "Actor", "Permission", "Role"]
