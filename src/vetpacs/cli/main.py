"""The ``vetpacs`` command (Typer). Thin: parses options, calls services, prints results."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vetpacs.config import Settings, load_settings, settings_reference

app = typer.Typer(
    help="VetPACS: veterinary PACS. DICOM archive, worklist, viewer and clinic integration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
modality_app = typer.Typer(
    help="Remote DICOM nodes (C-MOVE destinations, commitment reports).", no_args_is_help=True
)
db_app = typer.Typer(help="Index database maintenance.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration reference.", no_args_is_help=True)
user_app = typer.Typer(help="Users, passwords and API tokens.", no_args_is_help=True)
catalog_app = typer.Typer(help="Procedure catalog and stations (modalities in rooms).", no_args_is_help=True)
app.add_typer(modality_app, name="modality")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(user_app, name="user")
app.add_typer(catalog_app, name="catalog")
console = Console(stderr=True)
out = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder (index and blobs).")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="Index database URL.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="TOML configuration file.")]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **overrides)


def _archive(settings: Settings) -> Any:
    from vetpacs.app import build_archive, setup_logging

    setup_logging("WARNING")
    return build_archive(settings)


@app.command()
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    dicom_port: Annotated[int | None, typer.Option(help="DICOM port (default 11112; 0 disables).")] = None,
    dicom_host: Annotated[str | None, typer.Option(help="DICOM bind address.")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port (default 8042; 0 disables).")] = None,
    http_host: Annotated[str | None, typer.Option(help="HTTP bind address.")] = None,
    ae_title: Annotated[str | None, typer.Option(help="Our AE title (default VETPACS).")] = None,
    dicom_workers: Annotated[int | None, typer.Option(help="DICOM listener processes.")] = None,
    hl7_port: Annotated[int | None, typer.Option(help="HL7 v2 MLLP port (default 2575; 0 disables).")] = None,
    hl7_host: Annotated[str | None, typer.Option(help="HL7 MLLP bind address.")] = None,
    only: Annotated[str | None, typer.Option(help="Run only one part: dicom, hl7 or http.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo studies first (if not there).")] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="PEM certificate: HTTPS, and DICOM TLS on dicom_tls_port."),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Run VetPACS: the DICOM listener and the HTTP server, until SIGTERM or Ctrl-C."""
    from vetpacs.app import Server, setup_logging

    settings = _settings(
        config,
        data_dir=data_dir,
        database_url=database_url,
        dicom_port=dicom_port,
        dicom_host=dicom_host,
        http_port=http_port,
        http_host=http_host,
        ae_title=ae_title,
        dicom_workers=dicom_workers,
        hl7_port=hl7_port,
        hl7_host=hl7_host,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        console.print("error: TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
        raise typer.Exit(code=2)
    setup_logging(settings.log_level)
    server = Server(settings, only=only)
    if demo:
        _load_demo(server.archive, currency=settings.billing_currency)
    scheme = "https" if settings.tls_enabled else "http"
    tls = f", DICOM TLS port {settings.dicom_tls_port}" if settings.tls_enabled else ""
    console.print(
        f"VetPACS: AE [bold]{settings.ae_title}[/] on DICOM port {settings.dicom_port}{tls}, "
        f"HTTP {scheme}://{settings.http_host}:{settings.http_port}/health, "
        f"HL7 MLLP port {settings.hl7_port}, data in {settings.data_dir}"
    )
    console.print(
        f"Clinic app: {scheme}://{settings.http_host}:{settings.http_port}/app/  "
        f"viewer: {scheme}://{settings.http_host}:{settings.http_port}/viewer/?accession=..."
    )
    server.run()


def _load_demo(archive: Any, *, currency: str = "EUR") -> None:
    from vetpacs.archive.context import OriginKind
    from vetpacs.archive.importer import import_paths
    from vetpacs.demo import generate_demo_files
    from vetpacs.patients.demo import register_demo_patients

    registered = register_demo_patients(archive, actor=_cli_actor())
    console.print(f"demo patients: {registered.owners} owners and {registered.animals} animals added")
    with tempfile.TemporaryDirectory(prefix="vetpacs-demo-") as tmp:
        files = generate_demo_files(Path(tmp))
        summary = import_paths(archive, files, user="demo", kind=OriginKind.DEMO)
    console.print(
        f"demo data: {summary.stored} instances stored, {summary.already_present} already present, "
        f"{len(summary.rejected)} rejected"
    )
    for name, reason in summary.rejected:
        console.print(f"  rejected {name}: {reason}")
    _seed_catalog(archive, stations=True, currency=currency)
    _ensure_admin(archive)


def _seed_catalog(archive: Any, *, stations: bool, currency: str = "EUR") -> None:
    """Add the sample procedure catalog (and demo stations) and its sample fee list where missing;
    print what was added."""
    from vetpacs.billing.service import seed_fees
    from vetpacs.orders.catalog import seed_catalog, seed_stations

    procedures = seed_catalog(archive, actor=_cli_actor())
    added = seed_stations(archive, actor=_cli_actor()) if stations else []
    fees = seed_fees(archive, actor=_cli_actor(), currency=currency)
    console.print(
        f"catalog: {len(procedures)} procedures added"
        + (f", {len(added)} stations added" if stations else "")
        + f", {len(fees)} fee list lines added ({currency})"
    )


def _ensure_admin(archive: Any) -> None:
    """Create an ``admin`` user with a random password (printed once) when no admin exists."""
    from vetpacs.auth import Role
    from vetpacs.auth.service import admin_exists, create_user, generate_password
    from vetpacs.errors import Conflict

    if admin_exists(archive):
        return
    password = generate_password()
    try:
        create_user(archive, username="admin", role=Role.ADMIN, password=password, actor=_cli_actor())
    except Conflict:
        console.print("no enabled admin, and the name 'admin' is taken: use `vetpacs user add`")
        return
    console.print(
        f"created user [bold]admin[/] with password [bold]{password}[/] (shown once; change it with "
        "`vetpacs user password admin`)",
        highlight=False,
    )


@app.command()
def demo(data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Load generated veterinary demo studies (dogs, cats, a horse, a rabbit; DX, US, CT, dental)."""
    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    _load_demo(_archive(settings), currency=settings.billing_currency)


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders, zip files or DICOMDIRs.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    user: Annotated[str, typer.Option(help="Who imports (kept as the origin).")] = "",
) -> None:
    """Import DICOM files through the same ingest path as C-STORE; prints a summary."""
    from vetpacs.archive.importer import import_paths

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    archive = _archive(settings)
    # Rejections are listed in the summary below; keep log lines from breaking the progress bar.
    logging.getLogger("vetpacs.archive.ingest").setLevel(logging.ERROR)
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=None)

        def tick(name: str, outcome: str) -> None:
            progress.update(task, advance=1, description=outcome[:60])

        summary = import_paths(archive, paths, user=user or "cli", progress=tick)
    out.print(
        f"stored: {summary.stored}  already present: {summary.already_present}  "
        f"conflicts: {summary.conflicts}  rejected: {len(summary.rejected)}"
    )
    for name, reason in summary.rejected:
        out.print(f"  rejected {name}: {reason}")
    if summary.rejected:
        raise typer.Exit(code=1 if summary.stored + summary.already_present == 0 else 0)


@app.command()
def verify(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    repair_orphans: Annotated[
        bool, typer.Option(help="Delete blobs nothing references (only with the server stopped).")
    ] = False,
) -> None:
    """Re-read every stored blob; report checksum mismatches, missing files and orphan blobs."""
    from vetpacs.archive.verify import verify_archive

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    report = verify_archive(_archive(settings), repair_orphans=repair_orphans)
    out.print(
        f"checked: {report.checked}  ok: {report.ok}  mismatched: {len(report.mismatched)}  "
        f"missing: {len(report.missing)}  orphan blobs: {len(report.orphans)}"
    )
    for sop, key in report.mismatched:
        out.print(f"  MISMATCH {sop} (blob {key})")
    for sop, key in report.missing:
        out.print(f"  MISSING  {sop} (blob {key})")
    for key in report.orphans:
        out.print(f"  orphan   {key}{' (deleted)' if repair_orphans else ''}")
    if not report.healthy:
        raise typer.Exit(code=1)


@modality_app.command("add")
def modality_add(
    name: Annotated[str, typer.Argument(help="A name for the node, e.g. xray-room-1.")],
    ae: Annotated[str, typer.Option("--ae", help="Its AE title.")],
    host: Annotated[str, typer.Option("--host", help="Its host name or address.")],
    port: Annotated[int, typer.Option("--port", help="Its DICOM port.")],
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Register a remote DICOM node (C-MOVE destination)."""
    from vetpacs.errors import VetPACSError
    from vetpacs.nodes.service import add_node

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    try:
        node = add_node(
            _archive(settings).engine, name=name, ae_title=ae, host=host, port=port, description=description
        )
    except VetPACSError as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(code=2) from exc
    out.print(f"added {node.name}: {node.ae_title}@{node.host}:{node.port}")


@modality_app.command("list")
def modality_list(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """List registered DICOM nodes."""
    from vetpacs.nodes.service import list_nodes

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    table = Table("name", "AE title", "host", "port", "description")
    for n in list_nodes(_archive(settings).engine):
        table.add_row(n.name, n.ae_title, n.host, str(n.port), n.description)
    out.print(table)


@modality_app.command("remove")
def modality_remove(
    name: Annotated[str, typer.Argument(help="The node's name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Forget a registered DICOM node."""
    from vetpacs.errors import NotFound
    from vetpacs.nodes.service import remove_node

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    try:
        remove_node(_archive(settings).engine, name)
    except NotFound as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(code=2) from exc
    out.print(f"removed {name}")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Create or migrate the index schema to the newest version."""
    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    _archive(settings)
    out.print("index schema is up to date")


def _cli_actor() -> Any:
    import getpass

    from vetpacs.auth import Actor, Role

    try:
        who = getpass.getuser()
    except Exception:
        who = "?"
    return Actor(username=f"cli:{who}"[:64], role=Role.ADMIN, via="cli")


def _read_password(password_stdin: bool, generate: bool) -> tuple[str, bool]:
    """(password, generated): from stdin, a prompt (on a terminal) or generated."""
    from vetpacs.auth.service import generate_password

    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if not generate and sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True)), False
    return generate_password(), True


def _user_error(exc: Exception) -> typer.Exit:
    console.print(f"error: {exc}")
    return typer.Exit(code=2)


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]
GeneratePassword = Annotated[
    bool,
    typer.Option(
        "--generate-password",
        help="Generate a random password and print it (the default when stdin is not a terminal).",
    ),
]


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ @ -).")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="admin, veterinarian, radiologist, technician, front_desk, integration or external_reader.",
        ),
    ],
    display_name: Annotated[str, typer.Option("--display-name", help="Full name.")] = "",
    password_stdin: PasswordStdin = False,
    generate_password: GeneratePassword = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create a user. A generated password is printed once, alone on stdout."""
    from vetpacs.auth import Role
    from vetpacs.auth.service import create_user
    from vetpacs.errors import VetPACSError

    try:
        role_value = Role(role)
    except ValueError as exc:
        raise _user_error(ValueError(f"unknown role {role!r}: {', '.join(r.value for r in Role)}")) from exc
    password, generated = _read_password(password_stdin, generate_password)
    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    try:
        user = create_user(
            _archive(settings),
            username=username,
            role=role_value,
            password=password,
            display_name=display_name,
            actor=_cli_actor(),
        )
    except VetPACSError as exc:
        raise _user_error(exc) from exc
    console.print(f"created user {user.username} ({user.role.value})")
    if generated:
        console.print("generated password (shown once):")
        sys.stdout.write(password + "\n")


@user_app.command("list")
def user_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """List users."""
    from vetpacs.auth.service import list_users

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    table = Table("username", "role", "display name", "disabled", "created", "last login")
    for u in list_users(_archive(settings)):
        table.add_row(
            u.username,
            u.role.value,
            u.display_name,
            "yes" if u.disabled else "",
            f"{u.created_at:%Y-%m-%d %H:%M}",
            f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "",
        )
    out.print(table)


@user_app.command("disable")
def user_disable(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
    enable: Annotated[bool, typer.Option("--enable", help="Re-enable instead.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Disable a user (their sessions end; their tokens stop working)."""
    from vetpacs.auth.service import disable_user
    from vetpacs.errors import VetPACSError

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    try:
        disable_user(_archive(settings), username, actor=_cli_actor(), disabled=not enable)
    except VetPACSError as exc:
        raise _user_error(exc) from exc
    console.print(f"{'enabled' if enable else 'disabled'} {username}")


@user_app.command("password")
def user_password(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
    password_stdin: PasswordStdin = False,
    generate_password: GeneratePassword = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Set a user's password (their sessions end). A generated password is printed on stdout."""
    from vetpacs.auth.service import set_password
    from vetpacs.errors import VetPACSError

    password, generated = _read_password(password_stdin, generate_password)
    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    try:
        set_password(_archive(settings), username, password, actor=_cli_actor())
    except VetPACSError as exc:
        raise _user_error(exc) from exc
    console.print(f"password of {username} set")
    if generated:
        sys.stdout.write(password + "\n")


@user_app.command("token")
def user_token(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
    expires_days: Annotated[int | None, typer.Option("--expires-days", help="Valid for N days.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Issue an API token; prints only the token on stdout (it is not stored and shown once)."""
    from vetpacs.auth.service import issue_token
    from vetpacs.errors import VetPACSError

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    try:
        issued = issue_token(
            _archive(settings), username, name=name, expires_days=expires_days, actor=_cli_actor()
        )
    except VetPACSError as exc:
        raise _user_error(exc) from exc
    sys.stdout.write(issued.token + "\n")


@catalog_app.command("seed")
def catalog_seed(
    stations: Annotated[
        bool, typer.Option("--stations/--no-stations", help="Also add one demo station per modality.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Add a sample procedure catalog for a mixed practice and its fee list (existing ones left alone)."""
    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    _seed_catalog(_archive(settings), stations=stations, currency=settings.billing_currency)


@catalog_app.command("list")
def catalog_list(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """List the active procedures and stations."""
    from vetpacs.orders.catalog import list_procedures, list_stations

    archive = _archive(_settings(config, data_dir=data_dir, database_url=database_url))
    table = Table("code", "name", "modality", "region", "species", "minutes")
    for p in list_procedures(archive):
        table.add_row(
            p.code,
            p.name,
            p.modality,
            p.body_region,
            " ".join(p.species_codes) or "all",
            str(p.duration_minutes),
        )
    out.print(table)
    stations_table = Table("id", "station", "AE title", "modality", "room")
    for st in list_stations(archive):
        stations_table.add_row(str(st.id), st.name, st.ae_title, st.modality, st.location)
    out.print(stations_table)


@config_app.command("docs")
def config_docs() -> None:
    """Print the configuration reference (Markdown), as kept in docs/configuration.md."""
    sys.stdout.write(configuration_markdown())


def configuration_markdown() -> str:
    """The configuration reference generated from the Settings class."""
    lines = [
        "# Configuration",
        "",
        "Generated from `vetpacs.config.Settings` by `vetpacs config docs`; a test keeps it current.",
        "",
        "Every setting can be given as an environment variable, in a TOML file (top level or a",
        "`[vetpacs]` table; pass it with `--config` or `VETPACS_CONFIG`), and the common ones as",
        "options of `vetpacs serve`. Order of precedence: command-line option, environment, file, default.",
        "",
        "| setting | environment variable | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for name, env, default, help_text in settings_reference():
        lines.append(f"| `{name}` | `{env}` | `{default}` | {help_text.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
