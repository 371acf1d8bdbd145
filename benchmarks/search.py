"""Clinic search benchmark: ``GET /api/v1/search`` over 100,000 studies (~40,000 animals).

Generates the index directly with bulk inserts (owners, animals and their owner links, archive
patients, studies with their series and instances, orders linked to most studies, open
reconciliation items for the unmatched ones) into a fresh SQLite database migrated with our
migrations (or PostgreSQL with ``--database-url``), starts a real ``vetpacs serve`` on it, makes an
admin with ``vetpacs user add`` and times representative searches over HTTP (httpx, Basic auth).
Prints, per query, the number of matching studies, the median and p95 over HTTP and of the server's
own ``took_ms``, and the SQLite query plan of the study count (EXPLAIN QUERY PLAN); writes the
Markdown table to ``--output``.

    .venv/bin/python benchmarks/search.py [--studies 100000] [--animals 40000] [--runs 15]
        [--database-url postgresql+psycopg://...] [--output benchmarks/results/search.md]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select, text

from vetpacs.archive.models import Instance, Patient, Series, Study
from vetpacs.db.engine import make_engine, migrate
from vetpacs.orders.models import Order, OrderStudy, Procedure, ReconciliationItem
from vetpacs.patients.models import Animal, AnimalOwner, Breed, Owner, Species
from vetpacs.search.service import STUDIES, ClinicSearch, study_filters

FAMILIES = [
    "Smith",
    "Jones",
    "Williams",
    "Brown",
    "Taylor",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "White",
    "Hughes",
    "Edwards",
    "Green",
    "Hall",
    "Wood",
    "Harris",
    "Lewis",
    "Martin",
    "Jackson",
    "Clarke",
    "Clark",
    "Turner",
    "Hill",
    "Scott",
    "Cooper",
    "Morris",
    "Ward",
    "Moore",
    "King",
    "Watson",
    "Baker",
    "Harrison",
    "Morgan",
    "Patel",
    "Young",
    "Allen",
    "Mitchell",
    "James",
    "Anderson",
    "Phillips",
    "Lee",
    "Bell",
    "Parker",
    "Davis",
    "Murphy",
    "Kelly",
    "Walsh",
    "Byrne",
    "Ryan",
    "OBrien",
    "Lindqvist",
    "Okafor",
    "Novak",
    "Kowalski",
    "Muller",
    "Schmidt",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Dubois",
    "Martin",
    "Bernard",
    "Durand",
    "Lefebvre",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Garcia",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Nakamura",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Kim",
    "Park",
    "Chen",
    "Wang",
    "Li",
    "Zhang",
    "Singh",
    "Kumar",
]
GIVEN = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Finn",
    "Grace",
    "Harry",
    "Isla",
    "Jack",
    "Kate",
    "Liam",
    "Mia",
    "Noah",
    "Olivia",
    "Paul",
    "Quinn",
    "Rose",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wendy",
    "Xavier",
    "Yara",
    "Zoe",
    "Eva",
    "Ada",
    "Bob",
    "Carl",
    "Dora",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivan",
    "Jill",
    "Karl",
    "Lena",
]
PETS = [
    "Bella",
    "Max",
    "Luna",
    "Charlie",
    "Lucy",
    "Cooper",
    "Bailey",
    "Daisy",
    "Sadie",
    "Molly",
    "Buddy",
    "Lola",
    "Stella",
    "Tucker",
    "Bear",
    "Zoe",
    "Duke",
    "Harley",
    "Maggie",
    "Jax",
    "Bentley",
    "Chloe",
    "Sophie",
    "Riley",
    "Lily",
    "Penny",
    "Milo",
    "Rocky",
    "Ruby",
    "Toby",
    "Winston",
    "Rosie",
    "Teddy",
    "Coco",
    "Oscar",
    "Biscuit",
    "Pepper",
    "Ginger",
    "Shadow",
    "Smokey",
    "Tiger",
    "Simba",
    "Nala",
    "Felix",
    "Oliver",
    "Leo",
    "Jasper",
    "Misty",
    "Whiskers",
    "Mittens",
    "Boots",
    "Socks",
    "Patch",
    "Rusty",
    "Scout",
    "Ziggy",
    "Marley",
    "Ollie",
    "Murphy",
    "Loki",
    "Thor",
    "Zeus",
    "Apollo",
    "Hazel",
    "Willow",
    "Olive",
    "Poppy",
    "Maple",
    "Juniper",
    "Sage",
    "Clover",
    "Honey",
    "Peanut",
    "Muffin",
    "Cookie",
    "Nugget",
    "Pickles",
    "Waffles",
]
# (modality, body parts, weight)
EXAMS = [
    ("DX", ["THORAX", "ABDOMEN", "PELVIS", "SPINE", "LIMB", "SKULL", "STIFLE", "ELBOW"], 62),
    ("US", ["ABDOMEN", "HEART", "THORAX"], 18),
    ("CT", ["SKULL", "THORAX", "ABDOMEN", "SPINE"], 8),
    ("IO", ["JAW", "TOOTH"], 7),
    ("MR", ["BRAIN", "SPINE"], 3),
    ("RF", ["ABDOMEN", "THORAX"], 2),
]
CHUNK = 5000
SNAPSHOT = [c.name for c in Patient.__table__.columns if c.name.startswith(("patient_", "responsible_"))] + [
    "microchip"
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bulk(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    """executemany in chunks; text columns a row leaves out are empty (every row has every key)."""
    keys = {k for r in rows for k in r}
    rows = [r if len(r) == len(keys) else {**dict.fromkeys(keys, ""), **r} for r in rows]
    with engine.begin() as conn:
        for i in range(0, len(rows), CHUNK):
            conn.execute(insert(table.__table__), rows[i : i + CHUNK])


def generate(engine: Engine, n_studies: int, n_animals: int, seed: int = 7) -> dict[str, Any]:
    """Fill a migrated, empty index; returns sample values for the queries."""
    rng = random.Random(seed)
    now = datetime(2026, 11, 1, 12, 0)
    with engine.connect() as conn:
        species = conn.execute(select(Species.id, Species.code, Species.name)).all()
        breeds = conn.execute(select(Breed.id, Breed.species_id, Breed.code, Breed.name)).all()
        procedure_id = conn.execute(select(Procedure.id)).scalar()
    if procedure_id is None:  # an empty catalog: one procedure for the orders
        bulk(engine, Procedure, [{"code": "BENCH", "name": "Bench", "modality": "DX"}])
        with engine.connect() as conn:
            procedure_id = conn.execute(select(Procedure.id)).scalar()
    by_name = {s.name: s for s in species}
    weights = {"Canine": 50, "Feline": 35, "Equine": 4, "Lapine": 4, "Ferret": 1, "Guinea pig": 2}
    species_pool = [by_name[n] for n, w in weights.items() if n in by_name for _ in range(w)]
    species_pool += [s for s in species if s.name not in weights]
    breeds_of: dict[int, list[Any]] = {}
    for b in breeds:
        breeds_of.setdefault(b.species_id, []).append(b)

    n_owners = n_animals * 3 // 4
    owners = [
        {
            "id": i,
            "external_id": f"C{i:06d}",
            "family_name": rng.choice(FAMILIES),
            "given_name": rng.choice(GIVEN),
            "phone": f"06{rng.randrange(10**8):08d}",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(1, n_owners + 1)
    ]
    bulk(engine, Owner, owners)
    animals, links, patients = [], [], []
    for i in range(1, n_animals + 1):
        sp = rng.choice(species_pool)
        br = rng.choice(breeds_of[sp.id]) if sp.id in breeds_of and rng.random() < 0.8 else None
        owner = owners[rng.randrange(n_owners)]
        name = rng.choice(PETS)
        chip = f"9851{rng.randrange(10**11):011d}" if rng.random() < 0.6 else ""
        animals.append(
            {
                "id": i,
                "patient_id": f"VP{i:06d}",
                "issuer_of_patient_id": "VETPACS",
                "external_id": f"PMS{i:06d}",
                "name": name,
                "species_id": sp.id,
                "breed_id": br.id if br else None,
                "sex": rng.choice("MF"),
                "neuter_status": rng.choice(["ALTERED", "UNALTERED", ""]),
                "birth_date": f"{rng.randrange(2008, 2025)}{rng.randrange(1, 13):02d}{rng.randrange(1, 28):02d}",  # noqa: E501
                "weight_kg": round(rng.uniform(0.5, 45), 1),
                "microchip": chip,
                "created_at": now,
                "updated_at": now,
            }
        )
        links.append({"animal_id": i, "owner_id": owner["id"], "role": "OWNER", "is_primary": True})
        family = owner["family_name"].upper()
        pn = f"{family}^{name}"
        rp = f"{family}^{owner['given_name']}"
        patients.append(
            {
                "id": i,
                "patient_id": f"VP{i:06d}",
                "issuer_of_patient_id": "VETPACS",
                "patient_name": pn,
                "patient_name_upper": pn.upper(),
                "patient_sex": animals[-1]["sex"],
                "patient_species_description": sp.name,
                "patient_species_code": sp.code,
                "patient_breed_description": br.name if br else "",
                "patient_breed_code": br.code if br else "",
                "responsible_person": rp,
                "responsible_person_upper": rp.upper(),
                "microchip": chip,
                "header_json": "{}",
                "created_at": now,
                "updated_at": now,
            }
        )
    n_strays = max(1, n_studies // 50)  # studies of animals the clinic does not know
    for j in range(n_strays):
        pn = f"{rng.choice(FAMILIES).upper()}^{rng.choice(PETS)}"
        patients.append(
            {
                "id": n_animals + 1 + j,
                "patient_id": f"EXT{j:06d}",
                "issuer_of_patient_id": "",
                "patient_name": pn,
                "patient_name_upper": pn.upper(),
                "patient_species_description": "Canine",
                "responsible_person": "",
                "responsible_person_upper": "",
                "header_json": "{}",
                "created_at": now,
                "updated_at": now,
            }
        )
    bulk(engine, Animal, animals)
    bulk(engine, AnimalOwner, links)
    bulk(engine, Patient, patients)

    exam_pool = [(m, parts) for m, parts, w in EXAMS for _ in range(w)]
    start_day = date(2021, 11, 1)
    studies, series, instances, orders, order_links, items = [], [], [], [], [], []
    series_id = instance_id = 0
    for sid in range(1, n_studies + 1):
        stray = rng.random() < 0.08
        p = patients[n_animals + rng.randrange(n_strays)] if stray else patients[rng.randrange(n_animals)]
        modality, parts = rng.choice(exam_pool)
        n_series = rng.choice((1, 1, 2, 3))
        body = rng.sample(parts, min(len(parts), rng.choice((1, 1, 2))))
        day = start_day + timedelta(days=rng.randrange(5 * 365))
        stamp = datetime.combine(day, datetime.min.time()) + timedelta(minutes=rng.randrange(8 * 60, 19 * 60))
        uid = f"2.25.{10**20 + sid}"
        accession = f"A{sid:08d}"
        studies.append(
            {
                "id": sid,
                "patient_pk": p["id"],
                "study_instance_uid": uid,
                "study_date": stamp.strftime("%Y%m%d"),
                "study_time": stamp.strftime("%H%M%S"),
                "accession_number": "" if stray else accession,
                "study_description": f"{modality} {' '.join(body).lower()}",
                "modalities_in_study": modality,
                "body_parts_examined": "\\".join(body),
                "header_json": "{}",
                "num_series": n_series,
                "num_instances": 0,
                "created_at": stamp,
                "updated_at": stamp,
                **{k: p.get(k, "") for k in SNAPSHOT},
            }
        )
        total = 0
        for k in range(n_series):
            series_id += 1
            per = rng.choice((1, 2, 3))
            series.append(
                {
                    "id": series_id,
                    "study_pk": sid,
                    "series_instance_uid": f"{uid}.{k + 1}",
                    "modality": modality,
                    "series_number": str(k + 1),
                    "body_part_examined": body[k % len(body)],
                    "header_json": "{}",
                    "num_instances": per,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
            for m in range(per):
                instance_id += 1
                key = hashlib.sha1(f"{uid}.{k}.{m}".encode()).hexdigest()
                instances.append(
                    {
                        "id": instance_id,
                        "series_pk": series_id,
                        "sop_instance_uid": f"{uid}.{k + 1}.{m + 1}",
                        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.1.1",
                        "instance_number": str(m + 1),
                        "transfer_syntax_uid": "1.2.840.10008.1.2.1",
                        "blob_key": key,
                        "size": 1_500_000,
                        "checksum": "sha256:" + key,
                        "header_json": "{}",
                        "received_at": stamp,
                    }
                )
            total += per
        studies[-1]["num_instances"] = total
        if stray:
            items.append(
                {
                    "study_instance_uid": uid,
                    "reason": "no-order",
                    "detail": "no order matches (no accession number)",
                    "status": "open",
                    "created_at": stamp,
                }
            )
        elif rng.random() < 0.85:  # most studies came from an order; the others matched by Patient ID
            oid = len(orders) + 1
            orders.append(
                {
                    "id": oid,
                    "accession_number": accession,
                    "animal_id": p["id"],
                    "status": rng.choice(["images_received"] * 6 + ["completed", "reported", "billed"]),
                    "study_instance_uid": uid,
                    "created_at": stamp - timedelta(hours=2),
                    "updated_at": stamp,
                }
            )
            order_links.append(
                {
                    "order_id": oid,
                    "study_instance_uid": uid,
                    "matched_by": "accession",
                    "linked_by": "system",
                    "linked_at": stamp,
                }
            )
    for name, table, rows in (
        ("studies", Study, studies),
        ("series", Series, series),
        ("instances", Instance, instances),
        ("orders", Order, orders),
        ("order links", OrderStudy, order_links),
        ("reconciliation items", ReconciliationItem, items),
    ):
        began = time.perf_counter()
        bulk(engine, table, rows)
        print(f"  {len(rows):>7} {name} ({time.perf_counter() - began:.1f} s)", flush=True)
    if engine.dialect.name == "postgresql":  # the explicit ids leave the sequences behind
        with engine.begin() as conn:
            for table in ("owners", "animals", "patients", "studies", "series", "instances", "orders"):
                sequence = f"pg_get_serial_sequence('{table}', 'id')"
                conn.execute(text(f"SELECT setval({sequence}, (SELECT max(id) FROM {table}))"))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    chip_animal = next(a for a in animals if a["microchip"])
    return {
        "pet": PETS[3][:3].lower(),
        "family": FAMILIES[1].lower(),
        "microchip": chip_animal["microchip"],
        "accession": studies[n_studies // 2]["accession_number"] or "A00000001",
    }


def queries(sample: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"q = animal name prefix `{sample['pet']}`", {"q": sample["pet"]}),
        (f"q = owner family name `{sample['family']}`", {"q": sample["family"]}),
        ("q = microchip", {"q": sample["microchip"]}),
        ("q = accession number", {"q": sample["accession"]}),
        ("species = Feline", {"species": "Feline"}),
        (
            "species = dog, modality = DX, 3-month date range",
            {"species": "dog", "modality": "DX", "date_from": "2025-01-01", "date_to": "2025-03-31"},
        ),
        ("status = unmatched", {"status": "unmatched"}),
        ("empty q, 1-month date range", {"date_from": "2024-06-01", "date_to": "2024-06-30"}),
        ("empty q (every study, newest first)", {}),
    ]


def plan(engine: Engine, params: dict[str, str]) -> str:
    """SQLite's plan for the study count of a search (which indexes it uses)."""
    if engine.dialect.name != "sqlite":
        return ""
    kw: dict[str, Any] = dict(params)
    for key in ("date_from", "date_to"):
        if key in kw:
            kw[key] = date.fromisoformat(kw[key])
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(STUDIES).where(*study_filters(conn, ClinicSearch(**kw)))
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        return "; ".join(r[-1] for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--animals", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL of an EMPTY database (else SQLite)"
    )
    parser.add_argument("--output", type=Path, default=None, help="Write the Markdown table here.")
    parser.add_argument("--keep", action="store_true", help="Keep the generated data folder.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vetpacs-search-bench-"))
    url = args.database_url or f"sqlite:///{work / 'index.sqlite'}"
    engine = make_engine(url)
    began = time.perf_counter()
    migrate(engine)
    print(f"generating {args.studies} studies, {args.animals} animals in {engine.dialect.name}", flush=True)
    sample = generate(engine, args.studies, args.animals)
    generated = time.perf_counter() - began
    print(f"generated in {generated:.0f} s", flush=True)

    env = dict(os.environ)
    http_port = free_port()
    env.update(
        VETPACS_DATA_DIR=str(work / "data"),
        VETPACS_DATABASE_URL=url,
        VETPACS_HTTP_PORT=str(http_port),
        VETPACS_HTTP_HOST="127.0.0.1",
        VETPACS_DICOM_PORT="0",
        VETPACS_HL7_PORT="0",
        VETPACS_LOG_LEVEL="WARNING",
    )
    cli = [sys.executable, "-m", "vetpacs.cli.main"]
    password = subprocess.run(
        [*cli, "user", "add", "bench", "--role", "admin", "--generate-password"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    log = open(work / "server.log", "wb")  # noqa: SIM115 - the child writes to it
    proc = subprocess.Popen([*cli, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    rows: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while b"VETPACS_READY" not in (work / "server.log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((work / "server.log").read_text(errors="replace"))
            time.sleep(0.1)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{http_port}/api/v1", auth=("bench", password), timeout=60
        ) as client:
            for label, params in queries(sample):
                client.get("/search", params=params).raise_for_status()  # warm up
                wall, server = [], []
                total = 0
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    r = client.get("/search", params=params)
                    wall.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                    body = r.json()
                    server.append(float(body["took_ms"]))
                    total = body["studies"]["total"]
                row = (
                    f"| {label} | {total:,} | {statistics.median(server):.1f} | {pct(server, 0.95):.1f} "
                    f"| {statistics.median(wall):.1f} | {pct(wall, 0.95):.1f} |"
                )
                rows.append(row)
                print(row, flush=True)
                explained = plan(engine, params)
                if explained:
                    print(f"    plan: {explained}", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    header = [
        f"{args.studies:,} studies, {args.animals:,} animals, {engine.dialect.name}; "
        f"{args.runs} runs per query after one warm-up; generation {generated:.0f} s.",
        "",
        "| query | studies matched | server median ms | server p95 ms | HTTP median ms | HTTP p95 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    table = "\n".join(header + rows) + "\n"
    print()
    print(table)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table)


if __name__ == "__main__":
    main()
