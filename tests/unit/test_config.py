"""Settings: defaults, VETPACS_* environment, TOML file, explicit overrides and their precedence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vetpacs.config import DuplicatePolicy, Settings, load_settings, settings_reference


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No VETPACS_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("VETPACS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # a stray ./.env or relative data dir stays in tmp


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = Settings()
    assert s.data_dir == Path("vetpacs-data")
    assert s.database_url is None and s.storage_dir is None
    assert s.storage_fsync is True
    assert s.ae_title == "VETPACS"
    assert (s.dicom_host, s.dicom_port, s.dicom_workers) == ("0.0.0.0", 11112, 1)
    assert s.allowed_calling_aets == []
    assert s.duplicate_policy is DuplicatePolicy.KEEP_FIRST
    assert s.case_insensitive_names is False
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8042)
    assert s.max_pdu_size == 0
    assert s.log_level == "INFO"
    assert load_settings() == s


def test_env_parsing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "VETPACS_DATA_DIR": str(tmp_path / "d"),
        "VETPACS_DATABASE_URL": "postgresql+psycopg://u@db/vet",
        "VETPACS_STORAGE_DIR": str(tmp_path / "blobs"),
        "VETPACS_STORAGE_FSYNC": "false",
        "VETPACS_AE_TITLE": "CLINICPACS",
        "VETPACS_DICOM_PORT": "104",
        "VETPACS_DICOM_WORKERS": "4",
        "VETPACS_ALLOWED_CALLING_AETS": "A, B",
        "VETPACS_ACSE_TIMEOUT": "2.5",
        "VETPACS_DUPLICATE_POLICY": "reject",
        "VETPACS_CASE_INSENSITIVE_NAMES": "1",
        "VETPACS_HTTP_PORT": "0",
        "VETPACS_LOG_LEVEL": "DEBUG",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for s in (Settings(), load_settings()):
        assert s.data_dir == tmp_path / "d"
        assert s.database_url == "postgresql+psycopg://u@db/vet"
        assert s.resolved_database_url == "postgresql+psycopg://u@db/vet"
        assert s.storage_dir == tmp_path / "blobs" == s.resolved_storage_dir
        assert s.storage_fsync is False
        assert s.ae_title == "CLINICPACS"
        assert s.dicom_port == 104 and s.dicom_workers == 4
        assert s.allowed_calling_aets == ["A", "B"]
        assert s.acse_timeout == 2.5
        assert s.duplicate_policy is DuplicatePolicy.REJECT
        assert s.case_insensitive_names is True
        assert s.http_port == 0
        assert s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A, B", ["A", "B"]),
        ("A,B", ["A", "B"]),
        (" MODALITY1 ,, US_ROOM2 , ", ["MODALITY1", "US_ROOM2"]),
        ("SINGLE", ["SINGLE"]),
        ("", []),
    ],
)
def test_allowed_calling_aets_env(monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]) -> None:
    monkeypatch.setenv("VETPACS_ALLOWED_CALLING_AETS", raw)
    assert Settings().allowed_calling_aets == expected
    assert load_settings().allowed_calling_aets == expected


def test_allowed_calling_aets_direct_values() -> None:
    assert Settings(allowed_calling_aets="X,Y").allowed_calling_aets == ["X", "Y"]
    assert Settings(allowed_calling_aets=["X", "Y"]).allowed_calling_aets == ["X", "Y"]


def test_invalid_env_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VETPACS_DUPLICATE_POLICY", "overwrite")
    with pytest.raises(ValueError):
        Settings()
    monkeypatch.setenv("VETPACS_DUPLICATE_POLICY", "replace")
    monkeypatch.setenv("VETPACS_DICOM_PORT", "eleven")
    with pytest.raises(ValueError):
        Settings()


def test_toml_top_level(tmp_path: Path) -> None:
    cfg = write_toml(
        tmp_path / "vetpacs.toml",
        f'data_dir = "{tmp_path / "tomldata"}"\n'
        'ae_title = "TOMLPACS"\n'
        "dicom_port = 4242\n"
        'allowed_calling_aets = ["US1", "DX2"]\n'
        'duplicate_policy = "replace"\n'
        "storage_fsync = false\n"
        'unknown_key = "ignored"\n',
    )
    s = load_settings(cfg)
    assert s.data_dir == tmp_path / "tomldata"
    assert s.ae_title == "TOMLPACS"
    assert s.dicom_port == 4242
    assert s.allowed_calling_aets == ["US1", "DX2"]
    assert s.duplicate_policy is DuplicatePolicy.REPLACE
    assert s.storage_fsync is False
    assert s.http_port == 8042  # untouched keys keep their default


def test_toml_vetpacs_table(tmp_path: Path) -> None:
    cfg = write_toml(
        tmp_path / "c.toml",
        '[vetpacs]\nae_title = "TABLEPACS"\nhttp_port = 9000\nallowed_calling_aets = "A, B"\n'
        '[other_tool]\nae_title = "NOT_US"\n',
    )
    s = load_settings(cfg)
    assert s.ae_title == "TABLEPACS"
    assert s.http_port == 9000
    assert s.allowed_calling_aets == ["A", "B"]


def test_toml_from_vetpacs_config_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "env.toml", 'ae_title = "FROMENVFILE"\n')
    monkeypatch.setenv("VETPACS_CONFIG", str(cfg))
    assert load_settings().ae_title == "FROMENVFILE"
    other = write_toml(tmp_path / "explicit.toml", 'ae_title = "EXPLICIT"\n')
    assert load_settings(other).ae_title == "EXPLICIT"  # an explicit path wins over VETPACS_CONFIG


def test_missing_config_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "nope.toml")


def test_precedence_override_env_file_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = write_toml(
        tmp_path / "p.toml",
        'ae_title = "FILE"\ndicom_port = 1001\nhttp_port = 2001\nlog_level = "WARNING"\n',
    )
    monkeypatch.setenv("VETPACS_AE_TITLE", "ENV")
    monkeypatch.setenv("VETPACS_DICOM_PORT", "1002")
    monkeypatch.setenv("VETPACS_MAX_ASSOCIATIONS", "7")
    s = load_settings(cfg, ae_title="OVERRIDE", log_level=None)
    assert s.ae_title == "OVERRIDE"  # override > env > file
    assert s.dicom_port == 1002  # env > file
    assert s.http_port == 2001  # file > default
    assert s.log_level == "WARNING"  # an override of None means "not given"
    assert s.max_associations == 7  # env > default
    assert s.dimse_timeout == 60.0  # default


def test_override_wins_over_env_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VETPACS_HTTP_PORT", "1234")
    assert load_settings(http_port=4321).http_port == 4321
    assert load_settings().http_port == 1234


def test_env_list_beats_file_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "l.toml", 'allowed_calling_aets = ["FILE1"]\n')
    monkeypatch.setenv("VETPACS_ALLOWED_CALLING_AETS", "ENV1, ENV2")
    assert load_settings(cfg).allowed_calling_aets == ["ENV1", "ENV2"]


def test_lowercase_env_var_beats_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # pydantic-settings reads environment names case-insensitively; the file must not win over them.
    cfg = write_toml(tmp_path / "c.toml", 'ae_title = "FILE"\n')
    monkeypatch.setenv("vetpacs_ae_title", "LOWERENV")
    assert Settings().ae_title == "LOWERENV"
    assert load_settings(cfg).ae_title == "LOWERENV"


def test_resolved_database_url_default_inside_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data")
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'index.sqlite'}"
    assert s.resolved_storage_dir == tmp_path / "data" / "blobs"


def test_resolved_database_url_relative_data_dir_is_absolute(tmp_path: Path) -> None:
    s = Settings(data_dir=Path("rel-data"))  # cwd is tmp_path (fixture)
    url = s.resolved_database_url
    assert url == f"sqlite:///{tmp_path.resolve() / 'rel-data' / 'index.sqlite'}"
    assert url.startswith("sqlite:////")  # absolute path: four slashes


def test_resolved_database_url_explicit_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(database_url="sqlite:///x.db").resolved_database_url == "sqlite:///x.db"
    monkeypatch.setenv("VETPACS_DATA_DIR", str(tmp_path / "envdata"))
    assert load_settings().resolved_database_url == f"sqlite:///{tmp_path / 'envdata' / 'index.sqlite'}"


def test_storage_dir_override(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path / "d", storage_dir=tmp_path / "elsewhere")
    assert s.resolved_storage_dir == tmp_path / "elsewhere"


def test_settings_reference_covers_every_field() -> None:
    ref = {name: (env, default, desc) for name, env, default, desc in settings_reference()}
    assert set(ref) == set(Settings.model_fields)
    assert ref["allowed_calling_aets"][0] == "VETPACS_ALLOWED_CALLING_AETS"
    assert ref["duplicate_policy"][1] == "'keep-first'"
    assert ref["allowed_calling_aets"][1] == "[]"
    assert all(desc for _, _, desc in ref.values())
