"""FHIR searches in SQL give the same answers as the former Python filtering (FHIR R4 search 3.1.1).

Patient, RelatedPerson and Appointment searches now filter, count and page in SQL. The former
implementations (which loaded the domain search's rows and filtered them in Python) are kept below
as the reference; a few hundred animals, owners and orders on the real index, and each search is
compared (resources, order, total) over many parameter combinations and pages.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from vetpacs.archive.context import Archive
from vetpacs.auth import Actor, Role
from vetpacs.auth.audit import Database
from vetpacs.errors import NotFound
from vetpacs.integration.fhir.common import (
    MICROCHIP_SYSTEM,
    PMS_CLIENT_SYSTEM,
    PMS_PATIENT_SYSTEM,
    FhirError,
    SearchParams,
    issuer_system,
    parse_date_param,
    parse_reference,
    parse_token,
)
from vetpacs.integration.fhir.orders import (
    APPOINTMENT_STATUSES,
    _catalog,
    appointment_resource,
    appointment_status,
    search_appointments,
)
from vetpacs.integration.fhir.patient import (
    SEX,
    patient_resource,
    related_person_resource,
    search_patients,
    search_related_persons,
)
from vetpacs.orders import catalog
from vetpacs.orders import service as orders
from vetpacs.orders.schemas import OrderCreate, OrderRead, OrderSearch, ScheduleRequest, StepRead
from vetpacs.patients import service as patients
from vetpacs.patients.merge import merge_animals
from vetpacs.patients.schemas import AnimalCreate, AnimalQuery, AnimalRead, OwnerCreate, OwnerLink, OwnerRead

ADMIN = Actor(username="admin", role=Role.ADMIN, via="cli")
ISSUER = "VETPACS"
DOG, CAT = "448771007", "448169003"

# --------------------------------------------------------------------------- the former implementations


def scan(
    fetch: Callable[[int, int], tuple[list[Any], int]],
    keep: Callable[[Any], bool],
    *,
    offset: int,
    count: int,
    batch: int = 500,
) -> tuple[list[Any], int]:
    """Filter a paged domain search in Python: the window [offset, offset+count) and the total kept.

    ``fetch(limit, offset)`` returns one page and the domain total; the FHIR layer uses this for the
    search parameters the domain search has no filter for (documented as scanning the matches).
    """
    kept: list[Any] = []
    total = 0
    position = 0
    while True:
        items, domain_total = fetch(batch, position)
        for item in items:
            if keep(item):
                if offset <= total < offset + count:
                    kept.append(item)
                total += 1
        position += len(items)
        if not items or position >= domain_total:
            return kept, total


def _identifier_query(raw: str, issuer: str) -> tuple[AnimalQuery, Any]:
    system, value = parse_token(raw)
    value = value.strip()
    if system == issuer_system(issuer):
        return AnimalQuery(patient_id=value), lambda a: a.patient_id == value
    if system == MICROCHIP_SYSTEM:
        return AnimalQuery(microchip=value), lambda a: a.microchip == value.replace(" ", "")
    if system == PMS_PATIENT_SYSTEM:
        return AnimalQuery(external_id=value), lambda a: a.external_id == value
    if system not in (None, ""):
        # the former code searched patient_id "\x00none": PostgreSQL refuses NUL bytes (a 500)
        return AnimalQuery(), lambda a: False
    return AnimalQuery(q=value), lambda a: value in (a.patient_id, a.microchip, a.external_id)


def reference_patients(
    db: Database, params: SearchParams, *, issuer: str
) -> tuple[list[dict[str, Any]], int]:
    """GET Patient?... (FHIR R4 search): _id, name, identifier, birthdate, gender and species."""
    checks: list[Any] = []
    query = AnimalQuery()
    if (raw := params.get("_id")) is not None:
        if not raw.isdigit():
            return [], 0
        checks.append(lambda a, n=int(raw): a.id == n)
    if (raw := params.get("identifier")) is not None:
        query, check = _identifier_query(raw, issuer)
        checks.append(check)
    if (raw := params.get("name")) is not None:
        low = raw.lower()
        if not query.q:
            query = query.model_copy(update={"q": raw})
        checks.append(
            lambda a: (
                a.name.lower().startswith(low) or any(o.family_name.lower().startswith(low) for o in a.owners)
            )
        )
    if (raw := params.get("gender")) is not None:
        if raw not in SEX:
            raise FhirError.one(
                400, "invalid", f"gender {raw!r} is not male, female, other or unknown", "gender"
            )
        sex = SEX[raw]
        checks.append(lambda a: a.sex == sex)
    if (raw := params.get("birthdate")) is not None:
        span = parse_date_param("birthdate", raw)
        checks.append(lambda a: bool(a.birth_date) and span.contains(_da(a.birth_date)))
    if (raw := params.get("species")) is not None:
        _system, code = parse_token(raw)
        query = query.model_copy(update={"species": code})

    def fetch(limit: int, offset: int) -> tuple[list[AnimalRead], int]:
        page = patients.search_animals(db, query.model_copy(update={"limit": limit, "offset": offset}))
        return page.items, page.total

    if not checks:
        page = patients.search_animals(
            db, query.model_copy(update={"limit": max(params.count, 1), "offset": params.offset})
        )
        items = page.items if params.count else []
        return [patient_resource(a) for a in items], page.total
    kept, total = scan(fetch, lambda a: all(c(a) for c in checks), offset=params.offset, count=params.count)
    return [patient_resource(a) for a in kept], total


def _da(value: str) -> Any:
    from datetime import datetime

    return datetime.strptime(value, "%Y%m%d")


def reference_related_persons(db: Database, params: SearchParams) -> tuple[list[dict[str, Any]], int]:
    """GET RelatedPerson?... (FHIR R4 search): _id, patient, name and identifier (PMS client id)."""
    checks: list[Any] = []
    q = ""
    if (raw := params.get("name")) is not None:
        low = raw.lower()
        q = raw
        checks.append(lambda o: o.family_name.lower().startswith(low) or o.given_name.lower().startswith(low))
    if (raw := params.get("identifier")) is not None:
        system, value = parse_token(raw)
        if system not in (None, "", PMS_CLIENT_SYSTEM):
            return [], 0
        q = q or value
        checks.append(lambda o: o.external_id == value)
    if (raw := params.get("_id")) is not None:
        # the former code closed over ``raw`` (reassigned below) and never matched: bound here
        checks.append(lambda o, v=raw: str(o.id) == v)
    if (raw := params.get("patient")) is not None:
        animal_id = parse_reference("patient", raw, "Patient")
        try:
            animal = patients.get_animal(db, animal_id)
        except NotFound:
            return [], 0
        owners = [patients.get_owner(db, o.owner_id) for o in animal.owners]
        matched = [o for o in owners if all(c(o) for c in checks)]
        window = matched[params.offset : params.offset + params.count]
        return [related_person_resource(o, animal_id) for o in window], len(matched)

    animals: dict[int, int] = {}

    def keep(owner: OwnerRead) -> bool:
        if not all(c(owner) for c in checks):
            return False
        animal = _owner_animal(db, owner.id)
        if animal is None:
            return False
        animals[owner.id] = animal.id
        return True

    def fetch(limit: int, offset: int) -> tuple[list[OwnerRead], int]:
        page = patients.list_owners(db, q=q, limit=limit, offset=offset)
        return page.items, page.total

    kept, total = scan(fetch, keep, offset=params.offset, count=params.count)
    return [related_person_resource(o, animals[o.id]) for o in kept], total


def _owner_animal(db: Database, owner_id: int) -> AnimalRead | None:
    """The animal a RelatedPerson points at: the first the owner is primary for, else the first."""
    page = patients.search_animals(db, AnimalQuery(owner=str(owner_id), limit=500))
    mine = [a for a in page.items if any(o.owner_id == owner_id for o in a.owners)]
    for animal in mine:
        if any(o.owner_id == owner_id and o.is_primary for o in animal.owners):
            return animal
    return mine[0] if mine else None


def reference_appointments(db: Database, params: SearchParams) -> tuple[list[dict[str, Any]], int]:
    """GET Appointment?... (FHIR R4 search): _id, patient, status and date (the step's start)."""
    query = OrderSearch()
    checks: list[Any] = []
    if (raw := params.get("_id")) is not None:
        checks.append(lambda s, o, v=raw: str(s.id) == v)
    if (raw := params.get("patient")) is not None:
        query = query.model_copy(update={"animal_id": parse_reference("patient", raw, "Patient")})
    if (raw := params.get("status")) is not None:
        wanted = {v.strip() for v in raw.split(",")}
        unknown = wanted - APPOINTMENT_STATUSES
        if unknown:
            raise FhirError.one(
                400, "invalid", f"status {sorted(unknown)[0]!r} is not an appointment status", "status"
            )
        checks.append(lambda s, o: appointment_status(s, o.status) in wanted)
    if (raw := params.get("date")) is not None:
        span = parse_date_param("date", raw)
        if not span.negate:
            updates: dict[str, Any] = {}
            if span.lo is not None:
                updates["scheduled_from"] = span.lo.date()
            if span.hi is not None:
                updates["scheduled_to"] = span.hi.date()
            query = query.model_copy(update=updates)
        checks.append(lambda s, o: s.start is not None and span.contains(s.start))

    kept: list[tuple[StepRead, OrderRead]] = []
    total, position, batch = 0, 0, 500
    while True:  # orders page by page, flattened into their steps (newest order first)
        page = orders.search_orders(db, query.model_copy(update={"limit": batch, "offset": position}))
        for order in page.items:
            for step in order.steps:
                if all(c(step, order) for c in checks):
                    if params.offset <= total < params.offset + params.count:
                        kept.append((step, order))
                    total += 1
        position += len(page.items)
        if len(page.items) < batch:
            break
    procedures = _catalog(db)
    return [appointment_resource(s, o, procedures) for s, o in kept], total


# --------------------------------------------------------------------------- data
NAMES = ["Rex", "rexy", "Max", "Mia", "Bella", "bello", "Luna", "Émile", "O'Malley", "Milo", "Ma_x", "Ma%x"]
FAMILIES = [
    "SMITH",
    "Smythe",
    "smithers",
    "Jones",
    "JONAS",
    "Müller",
    "Mueller",
    "O'Brien",
    "Doe",
    "de Vries",
]
GIVEN = ["Anna", "anne", "Ben", "Sarah", "Sam", "Émilie", ""]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """About 300 animals, 120 owners and 160 orders with every appointment status, some merges."""
    import conftest  # type: ignore[import-not-found]
    from vetpacs.app import build_archive
    from vetpacs.config import Settings

    tmp = tmp_path_factory.mktemp("fhirsql")
    url = conftest.fresh_database_url(tmp)
    archive = build_archive(Settings(data_dir=tmp / "data", database_url=url))
    rng = random.Random(20261129)
    catalog.seed_catalog(archive, actor=ADMIN)
    stations = catalog.seed_stations(archive, actor=ADMIN)
    dx = next(s for s in stations if s.modality == "DX")
    owner_ids = []
    for n in range(120):
        owner = patients.create_owner(
            archive,
            OwnerCreate(
                family_name=rng.choice(FAMILIES),
                given_name=rng.choice(GIVEN),
                external_id=f"C{n:04d}" if n % 3 else "",
                phone=f"+44 {n % 7}",
                email=f"o{n % 11}@example.org",
            ),
            actor=ADMIN,
        )
        owner_ids.append(owner.id)
    animal_ids = []
    for n in range(300):
        links = []
        if n % 9:  # some animals have no owner, some have two (the second primary now and then)
            first, second = rng.sample(owner_ids[:100], 2)  # the last 20 owners own nothing
            links = [OwnerLink(owner_id=first, is_primary=n % 5 != 0)]
            if n % 4 == 0:
                links.append(OwnerLink(owner_id=second, is_primary=n % 5 == 0))
        birth = date(2012, 1, 1) + timedelta(days=rng.randrange(0, 12 * 365))
        animal = patients.create_animal(
            archive,
            AnimalCreate(
                name=rng.choice(NAMES),
                patient_id=f"PMS{n:04d}" if n % 2 else None,
                external_id=f"PMS{n:04d}" if n % 2 else (f"X{n}" if n % 3 == 0 else ""),
                microchip=f"9560000{n:08d}" if n % 4 else "",
                sex=rng.choice(["M", "F", "O"]),
                birth_date=birth.strftime("%Y%m%d") if n % 10 else "",
                species_code=DOG if n % 3 else CAT,
                owners=links,
            ),
            actor=ADMIN,
        )
        animal_ids.append(animal.id)
    for n in range(0, 30, 3):  # merged records are hidden from every search
        merge_animals(archive, animal_ids[n + 1], animal_ids[n], actor=ADMIN)
    live = [a for i, a in enumerate(animal_ids) if not (i % 3 == 0 and i < 30)]
    weekdays = [d for d in (date(2030, 1, 2) + timedelta(days=i) for i in range(40)) if d.weekday() < 5]

    def slot(n: int) -> datetime:  # ten 45-minute slots a working day from 08:00
        return datetime.combine(weekdays[n // 10], datetime.min.time()) + timedelta(
            hours=8, minutes=45 * (n % 10)
        )

    for n in range(160):
        code = rng.choice(["DX-THX2", "DX-ABD"]) if n % 5 else "DX-THX2"
        codes = [code, "DX-ABD" if code == "DX-THX2" else "DX-THX2"] if n % 7 == 0 else [code]
        schedule = ScheduleRequest(station_id=dx.id, start=slot(n)) if n % 3 else None
        order = orders.create_order(
            archive,
            OrderCreate(animal_id=rng.choice(live[:120]), procedure_codes=codes, schedule=schedule),
            actor=ADMIN,
        )
        if n % 11 == 0:
            orders.cancel_order(archive, order.id, actor=ADMIN)
        elif n % 13 == 0:
            orders.mark_no_show(archive, order.id, actor=ADMIN)
        elif n % 5 == 0 and schedule is not None:
            orders.mark_arrived(archive, order.id, actor=ADMIN)
    yield archive
    archive.engine.dispose()
    conftest.drop_database(url)


Search = Callable[[Database, SearchParams], tuple[list[dict[str, Any]], int]]


def compare(db: Archive, new: Search, old: Search, values: dict[str, str]) -> int:
    """The same resources in the same order and the same total, on several pages; the total."""
    _, total = old(db, SearchParams(values, 500, 0))
    for count, offset in ((20, 0), (7, 3), (0, 0), (500, 0), (5, max(total - 2, 0)), (10, total + 5)):
        params = SearchParams(dict(values), count, offset)
        got = new(db, params)
        want = old(db, params)
        assert got[1] == want[1] == total, (values, count, offset)
        assert [r["id"] for r in got[0]] == [r["id"] for r in want[0]], (values, count, offset)
        assert got[0] == want[0], (values, count, offset)
    return total


PATIENT_PARAMS: list[dict[str, str]] = [
    {},
    *({"name": v} for v in ("r", "REX", "ma", "Ma_", "Ma%", "smi", "SMITH", "mü", "o'", "é", "zz", "de v")),
    *({"gender": v} for v in ("male", "female", "other", "unknown")),
    *(
        {"birthdate": v}
        for v in (
            "2019",
            "2019-05",
            "2019-05-17",
            "ne2019",
            "lt2016-03",
            "le2016-03",
            "gt2020-06-01",
            "ge2020-06-01",
            "gt2020-06-01T10:00",
            "lt2020-06-01T00:00:01",
            "2020-06-01T10:30",
        )
    ),
    {"species": DOG},
    {"species": f"http://snomed.info/sct|{CAT}"},
    {"identifier": "PMS0007"},
    {"identifier": "956000000000005"},
    {"identifier": "X3"},
    {"identifier": f"{issuer_system(ISSUER)}|PMS0011"},
    {"identifier": f"{MICROCHIP_SYSTEM}|95600000000 0021"},
    {"identifier": f"{PMS_PATIENT_SYSTEM}|PMS0013"},
    {"identifier": "urn:other|PMS0013"},
    {"identifier": "PMS0003"},  # merged away: not found
    {"_id": "5"},
    {"_id": "abc"},
    {"name": "b", "gender": "female"},
    {"name": "sm", "birthdate": "ge2018", "species": DOG},
    {"name": "m", "identifier": "PMS0015"},
    {"gender": "male", "birthdate": "ne2015"},
]


@pytest.mark.parametrize(
    "values", PATIENT_PARAMS, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "all"
)
def test_patient_search_in_sql_matches_the_former_filtering(db: Archive, values: dict[str, str]) -> None:
    compare(
        db,
        lambda d, p: search_patients(d, p, issuer=ISSUER),
        lambda d, p: reference_patients(d, p, issuer=ISSUER),
        values,
    )


RELATED_PARAMS: list[dict[str, str]] = [
    {},
    *({"name": v} for v in ("s", "SMI", "an", "Sa", "mü", "o'", "zz", "de ")),
    {"identifier": "C0004"},
    {"identifier": f"{PMS_CLIENT_SYSTEM}|C0005"},
    {"identifier": "urn:other|C0005"},
    {"identifier": "C0119"},  # owns nothing: not a RelatedPerson
    {"_id": "3"},
    {"_id": "03"},
    {"name": "j", "identifier": "C0002"},
    {"name": "s", "_id": "7"},
    {"patient": "129"},
    {"patient": "Patient/129", "_id": "3"},
    {"patient": "129", "name": "sa"},
]


@pytest.mark.parametrize(
    "values", RELATED_PARAMS, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "all"
)
def test_related_person_search_in_sql_matches_the_former_filtering(
    db: Archive, values: dict[str, str]
) -> None:
    compare(db, search_related_persons, reference_related_persons, values)


APPOINTMENT_PARAMS: list[dict[str, str]] = [
    {},
    *({"status": v} for v in ("booked", "proposed", "cancelled", "noshow", "arrived", "booked,arrived")),
    *(
        {"date": v}
        for v in (
            "2030-01-02",
            "2030-01-03",
            "ge2030-01-03T10:00",
            "lt2030-01-02T12:00",
            "ne2030-01-02",
            "2031",
        )
    ),
    {"_id": "4"},
    {"_id": "x"},
    {"status": "booked", "date": "2030-01-03"},
]


@pytest.mark.parametrize(
    "values", APPOINTMENT_PARAMS, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "all"
)
def test_appointment_search_in_sql_matches_the_former_filtering(db: Archive, values: dict[str, str]) -> None:
    compare(db, search_appointments, reference_appointments, values)


def test_searches_find_what_was_made(db: Archive) -> None:
    """Guard against comparing two empty answers: the data has something to find for each search."""
    assert (
        compare(
            db,
            lambda d, p: search_patients(d, p, issuer=ISSUER),
            lambda d, p: reference_patients(d, p, issuer=ISSUER),
            {},
        )
        == 290
    )
    assert (
        compare(
            db,
            lambda d, p: search_patients(d, p, issuer=ISSUER),
            lambda d, p: reference_patients(d, p, issuer=ISSUER),
            {"name": "ma"},
        )
        > 20
    )
    assert 50 < compare(db, search_related_persons, reference_related_persons, {}) <= 100
    found, total = search_related_persons(db, SearchParams({"_id": "3"}, 20, 0))  # never matched before
    assert total == 1 and found[0]["id"] == "3"
    totals = {
        s: compare(db, search_appointments, reference_appointments, {"status": s})
        for s in ("booked", "proposed", "cancelled", "noshow", "arrived")
    }
    assert all(totals.values()), totals
    bundle, total = search_appointments(db, SearchParams({}, 500, 0))
    assert total == len(bundle) > 160  # some orders have two steps


def test_bad_values_are_400(db: Archive) -> None:
    with pytest.raises(FhirError):
        search_patients(db, SearchParams({"gender": "cat"}, 20, 0), issuer=ISSUER)
    with pytest.raises(FhirError):
        search_patients(db, SearchParams({"birthdate": "2019-13"}, 20, 0), issuer=ISSUER)
    with pytest.raises(FhirError):
        search_appointments(db, SearchParams({"status": "booked,nope"}, 20, 0))
