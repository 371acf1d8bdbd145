"""The docs say what the code does: configuration reference and conformance matching keys."""

from __future__ import annotations

import re
from pathlib import Path

from vetpacs.archive.query import ATTRS, MULTI, SEQUENCES
from vetpacs.archive.sopclasses import QUERY_RETRIEVE_SOP_CLASSES, STORAGE_SOP_CLASSES, TRANSFER_SYNTAXES
from vetpacs.cli.main import configuration_markdown
from vetpacs.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
README = Path(__file__).resolve().parents[2] / "README.md"


def test_configuration_reference_is_current() -> None:
    assert (DOCS / "configuration.md").read_text() == configuration_markdown(), (
        "docs/configuration.md is stale: run `vetpacs config docs > docs/configuration.md`"
    )


def test_every_setting_is_documented_with_help() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"


def test_conformance_lists_every_sop_class_syntax_and_matching_key() -> None:
    text = (DOCS / "conformance.md").read_text()
    for uid in [*STORAGE_SOP_CLASSES, *TRANSFER_SYNTAXES, *QUERY_RETRIEVE_SOP_CLASSES]:
        assert f"`{uid}`" in text, uid
    tags = set(re.findall(r"`\(([0-9A-F]{4}),([0-9A-F]{4})\)`", text))
    for tag in [*ATTRS, *MULTI, *SEQUENCES]:
        assert (f"{tag >> 16:04X}", f"{tag & 0xFFFF:04X}") in tags, f"matching key {tag:08X} undocumented"


def test_readme_names_the_two_commands() -> None:
    text = README.read_text()
    assert "./scripts/start.sh" in text and "./scripts/test.sh" in text
