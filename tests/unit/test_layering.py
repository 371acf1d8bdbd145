"""Dependencies point one way (docs/architecture.md, rule 1): domain modules never import transports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "vetpacs"
DOMAIN = [
    "archive",
    "storage",
    "nodes",
    "db",
    "auth",
    "imaging",
    "patients",
    "orders",
    "measurements",
    "reports",
    "billing",
    "search",
    "status.py",
    "config.py",
    "errors.py",
    "events.py",
    "demo.py",
]
TRANSPORT_LIBS = {"fastapi", "starlette", "uvicorn", "pynetdicom", "typer", "rich", "hl7", "hl7apy"}
TRANSPORT_PKGS = {"vetpacs.web", "vetpacs.dicom", "vetpacs.cli", "vetpacs.app"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def domain_files() -> list[Path]:
    files: list[Path] = []
    for entry in DOMAIN:
        p = SRC / entry
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return files


@pytest.mark.parametrize("path", domain_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_domain_module_imports_no_transport(path: Path) -> None:
    bad = {
        m
        for m in imported_modules(path)
        if m.split(".")[0] in TRANSPORT_LIBS or any(m == t or m.startswith(t + ".") for t in TRANSPORT_PKGS)
    }
    assert not bad, f"{path.relative_to(SRC)} imports transport code: {sorted(bad)}"


def test_archive_knows_nothing_of_other_domains() -> None:
    for path in sorted((SRC / "archive").rglob("*.py")):
        others = {
            m
            for m in imported_modules(path)
            if m.split(".")[:2] in (["vetpacs", p] for p in ("nodes", "patients", "orders"))
        }
        assert not others, f"{path.name} imports {others}"


def test_orders_and_patients_know_nothing_of_billing() -> None:
    """Billing reads the orders' events from the outbox; orders and patients never call billing."""
    for pkg in ("orders", "patients", "archive"):
        for path in sorted((SRC / pkg).rglob("*.py")):
            bad = {
                m
                for m in imported_modules(path)
                if m == "vetpacs.billing" or m.startswith("vetpacs.billing.")
            }
            assert not bad, f"{pkg}/{path.name} imports {bad}"
