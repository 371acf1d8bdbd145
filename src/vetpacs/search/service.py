"""The clinic search: one box over animals, owners and studies, with filters (docs/clinic-api.md).

Built on the shared matchers, not beside them: animals match through
``patients.service.matching_animal_ids`` (name and owner prefixes on ``lower(...)`` indexes,
identifiers exactly), study attributes through ``archive.query.study_conditions`` (the C-FIND/QIDO
rules: date ranges, Modalities in Study, Body Part Examined). A study belongs to an animal when
an order of that animal is linked to it (``order_studies``) or its Patient ID is the animal's (what
the linker checks; a reconciliation link corrects the study's Patient ID to the animal's).

Every condition is index-driven: prefixes are half-open ranges on SQLite and ``LIKE 'x%'`` on
``text_pattern_ops`` indexes on PostgreSQL (migration 0007); a page is completed with a fixed
number of batched reads (no N+1). Studies come newest first (study date, time, then id).
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Select, Table, and_, exists, func, or_, select, union

from vetpacs.archive.context import Archive
from vetpacs.archive.models import Study
from vetpacs.archive.query import study_conditions
from vetpacs.errors import Invalid
from vetpacs.orders.models import Order, OrderStatus, OrderStudy
from vetpacs.patients.models import Animal, AnimalOwner, Breed, Owner, Species
from vetpacs.patients.schemas import AnimalQuery, AnimalRead
from vetpacs.patients.service import matching_animal_ids, search_animals

STUDIES: Table = cast(Table, Study.__table__)
ORDERS: Table = cast(Table, Order.__table__)
LINKS: Table = cast(Table, OrderStudy.__table__)
ANIMALS: Table = cast(Table, Animal.__table__)
SPECIES: Table = cast(Table, Species.__table__)
BREEDS: Table = cast(Table, Breed.__table__)
OWNERS: Table = cast(Table, Owner.__table__)
OWNERSHIP: Table = cast(Table, AnimalOwner.__table__)

UNMATCHED = "unmatched"
LINKED = "linked"
STATUSES = (UNMATCHED, LINKED, *(s.value for s in OrderStatus))
MAX_LIMIT = 200
_TOP = "\U0010ffff"  # sorts after every character: prefix ranges on SQLite


class ClinicSearch(BaseModel):
    """The clinic search box and its filters (every given one must match)."""

    q: str = ""
    species: str = ""
    breed: str = ""
    modality: str = ""
    body_region: str = ""
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""
    limit: int = Field(default=25, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0)


class AnimalHit(BaseModel):
    """An animal matching the search box or the species/breed filters."""

    id: int
    patient_id: str
    name: str
    species: str
    breed: str
    sex: str
    neuter_status: str
    birth_date: str = Field(description="YYYYMMDD or empty.")
    weight_kg: float | None
    microchip: str
    alerts: str
    deceased: bool
    owners: list[str] = Field(description='"FAMILY, Given", the primary owner first.')
    study_count: int
    last_study_date: str | None = Field(description="YYYY-MM-DD of the newest study, or null.")


class StudyHit(BaseModel):
    """A stored study with its animal (when linked) and its order's status."""

    study_uid: str
    accession_number: str
    study_date: str | None = Field(description="YYYY-MM-DD, or null when the study has no date.")
    study_time: str = Field(default="", description="HHMMSS as stored (may be empty).")
    description: str
    modalities: list[str]
    body_parts: list[str]
    animal_id: int | None
    order_id: int | None
    patient_id: str
    animal_name: str
    species: str
    breed: str
    owner: str
    series: int
    instances: int
    status: str = Field(description="The order's status, else linked (an animal, no order) or unmatched.")
    received_at: str = Field(default="", description="When the study was first stored (UTC, ISO 8601).")


class StudyPage(BaseModel):
    total: int
    items: list[StudyHit]


class SearchResult(BaseModel):
    """What ``GET /api/v1/search`` answers."""

    took_ms: float
    animals: list[AnimalHit]
    animals_total: int = Field(default=0, description="How many animals match in all.")
    studies: StudyPage


# --------------------------------------------------------------------------- helpers
def owner_label(family: str, given: str) -> str:
    """``FAMILY, Given`` (just ``FAMILY`` without a given name)."""
    family, given = family.strip().upper(), given.strip()
    return f"{family}, {given}" if given else family


def _pn_label(pn: str) -> str:
    family, _, rest = pn.partition("^")
    return owner_label(family, rest.split("^")[0]) if family.strip() else ""


def iso_date(value: str) -> str | None:
    """``YYYY-MM-DD`` for a DICOM DA ``YYYYMMDD``; None when empty or malformed."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return None


def _upper_prefix(conn: Connection, column: Any, text: str) -> ColumnElement[bool]:
    """Prefix match on an upper-cased shadow column (range on SQLite, LIKE on PostgreSQL)."""
    up = text.strip().upper()
    if conn.dialect.name == "sqlite":
        return and_(column >= up, column < up + _TOP)  # type: ignore[no-any-return]
    escaped = up.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")  # type: ignore[no-any-return]


def _split(value: str) -> list[str]:
    return [v for v in (value or "").split("\\") if v]


def studies_of_animals(animal_ids: Select[Any]) -> ColumnElement[bool]:
    """Studies of the given animals: linked to one of their orders, or carrying their Patient ID."""
    ids = animal_ids.scalar_subquery()
    return or_(
        STUDIES.c.patient_id.in_(select(ANIMALS.c.patient_id).where(ANIMALS.c.id.in_(ids))),
        STUDIES.c.study_instance_uid.in_(
            select(LINKS.c.study_instance_uid)
            .join(ORDERS, ORDERS.c.id == LINKS.c.order_id)
            .where(ORDERS.c.animal_id.in_(ids))
        ),
    )


def _has_animal() -> ColumnElement[bool]:
    """The study is linked to an animal (an order link, or a live animal's Patient ID)."""
    return or_(
        exists().where(LINKS.c.study_instance_uid == STUDIES.c.study_instance_uid),
        exists().where(ANIMALS.c.patient_id == STUDIES.c.patient_id, ANIMALS.c.merged_into_id.is_(None)),
    )


def _species_values(conn: Connection, text: str) -> tuple[list[str], list[str]]:
    """Species codes and upper-case names a species filter stands for."""
    low = text.strip().lower()
    rows = conn.execute(
        select(SPECIES.c.code, SPECIES.c.name, SPECIES.c.common_name, SPECIES.c.latin_name).where(
            or_(
                SPECIES.c.code == text.strip(),
                func.lower(SPECIES.c.name) == low,
                func.lower(SPECIES.c.common_name) == low,
            )
        )
    ).all()
    codes = sorted({r.code for r in rows})
    names = {text.strip().upper()}
    for r in rows:
        names.update(v.upper() for v in (r.name, r.common_name, r.latin_name) if v)
    return codes, sorted(names)


def _breed_values(conn: Connection, text: str) -> list[str]:
    low = text.strip().lower()
    rows = conn.execute(
        select(BREEDS.c.code).where(or_(BREEDS.c.code == text.strip(), func.lower(BREEDS.c.name) == low))
    ).all()
    return sorted({r.code for r in rows})


def validate(query: ClinicSearch) -> None:
    """``Invalid`` for values no search can mean (an unknown status, an inverted date range)."""
    if query.status and query.status not in STATUSES:
        raise Invalid(f"unknown status {query.status!r}; one of {', '.join(STATUSES)}")
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise Invalid("date_from is after date_to")


def study_filters(conn: Connection, query: ClinicSearch) -> list[ColumnElement[bool]]:
    """The WHERE conditions on ``studies`` for a clinic search."""
    validate(query)
    where: list[ColumnElement[bool]] = []
    match: dict[int, str] = {}
    if query.date_from or query.date_to:
        lo = query.date_from.strftime("%Y%m%d") if query.date_from else ""
        hi = query.date_to.strftime("%Y%m%d") if query.date_to else ""
        match[0x00080020] = f"{lo}-{hi}"
    if query.modality.strip():
        match[0x00080061] = query.modality.strip().upper()
    if query.body_region.strip():
        match[0x00180015] = query.body_region.strip().upper()
    where += study_conditions(match)
    text = query.q.strip()
    if text:
        own = [
            STUDIES.c.accession_number.in_({text, text.upper()}),
            STUDIES.c.patient_id.in_({text, text.upper()}),
            STUDIES.c.microchip == text.replace(" ", ""),
            _upper_prefix(conn, STUDIES.c.patient_name_upper, text),  # OWNERFAMILY^Animal
            _upper_prefix(conn, STUDIES.c.responsible_person_upper, text),
        ]
        animals = matching_animal_ids(conn, AnimalQuery(q=text))
        where.append(or_(*own, studies_of_animals(animals)))
    if query.species.strip():
        codes, names = _species_values(conn, query.species)
        own_species = [func.upper(STUDIES.c.patient_species_description).in_(names)]
        if codes:
            own_species.append(STUDIES.c.patient_species_code.in_(codes))
        animals = matching_animal_ids(conn, AnimalQuery(species=query.species))
        where.append(or_(*own_species, studies_of_animals(animals)))
    if query.breed.strip():
        codes = _breed_values(conn, query.breed)
        own_breed = [_upper_prefix(conn, func.upper(STUDIES.c.patient_breed_description), query.breed)]
        if codes:
            own_breed.append(STUDIES.c.patient_breed_code.in_(codes))
        animals = matching_animal_ids(conn, AnimalQuery(breed=query.breed))
        where.append(or_(*own_breed, studies_of_animals(animals)))
    if query.status == UNMATCHED:
        where.append(~_has_animal())
    elif query.status == LINKED:
        where.append(_has_animal())
    elif query.status:
        where.append(
            STUDIES.c.study_instance_uid.in_(
                select(LINKS.c.study_instance_uid)
                .join(ORDERS, ORDERS.c.id == LINKS.c.order_id)
                .where(ORDERS.c.status == query.status)
            )
        )
    return where


NEWEST_FIRST = (STUDIES.c.study_date.desc(), STUDIES.c.study_time.desc(), STUDIES.c.id.desc())

STUDY_COLUMNS = (
    STUDIES.c.id,
    STUDIES.c.study_instance_uid,
    STUDIES.c.accession_number,
    STUDIES.c.study_date,
    STUDIES.c.study_time,
    STUDIES.c.study_description,
    STUDIES.c.modalities_in_study,
    STUDIES.c.body_parts_examined,
    STUDIES.c.patient_id,
    STUDIES.c.patient_name,
    STUDIES.c.patient_species_description,
    STUDIES.c.patient_breed_description,
    STUDIES.c.responsible_person,
    STUDIES.c.num_series,
    STUDIES.c.num_instances,
    STUDIES.c.created_at,
)


def _animal_details(conn: Connection, animal_ids: set[int]) -> dict[int, dict[str, Any]]:
    """Name, species, breed and primary owner of each animal (two queries)."""
    if not animal_ids:
        return {}
    rows = conn.execute(
        select(
            ANIMALS.c.id,
            ANIMALS.c.name,
            ANIMALS.c.patient_id,
            ANIMALS.c.species_text,
            ANIMALS.c.breed_text,
            SPECIES.c.name.label("species_name"),
            BREEDS.c.name.label("breed_name"),
        )
        .select_from(
            ANIMALS.outerjoin(SPECIES, SPECIES.c.id == ANIMALS.c.species_id).outerjoin(
                BREEDS, BREEDS.c.id == ANIMALS.c.breed_id
            )
        )
        .where(ANIMALS.c.id.in_(animal_ids))
    ).all()
    out = {
        r.id: {
            "name": r.name,
            "species": r.species_name or r.species_text,
            "breed": r.breed_text or r.breed_name or "",
            "owner": "",
        }
        for r in rows
    }
    owners = conn.execute(
        select(OWNERSHIP.c.animal_id, OWNERS.c.family_name, OWNERS.c.given_name)
        .join(OWNERS, OWNERS.c.id == OWNERSHIP.c.owner_id)
        .where(OWNERSHIP.c.animal_id.in_(animal_ids))
        .order_by(OWNERSHIP.c.animal_id, OWNERSHIP.c.is_primary.desc(), OWNERSHIP.c.owner_id)
    )
    for o in owners:
        entry = out.get(o.animal_id)
        if entry is not None and not entry["owner"]:
            entry["owner"] = owner_label(o.family_name, o.given_name)
    return out


def study_hits(conn: Connection, rows: list[Any]) -> list[StudyHit]:
    """StudyHit for each ``studies`` row (its order link, animal and owner in three batched reads)."""
    if not rows:
        return []
    uids = [r.study_instance_uid for r in rows]
    orders: dict[str, Any] = {}
    for found in conn.execute(
        select(LINKS.c.study_instance_uid, ORDERS.c.id, ORDERS.c.status, ORDERS.c.animal_id)
        .join(ORDERS, ORDERS.c.id == LINKS.c.order_id)
        .where(LINKS.c.study_instance_uid.in_(uids))
        .order_by(LINKS.c.id)
    ):
        orders[found.study_instance_uid] = found  # the newest link wins
    patient_ids = {r.patient_id for r in rows if r.study_instance_uid not in orders and r.patient_id}
    by_patient_id = (
        {
            a.patient_id: a.id
            for a in conn.execute(
                select(ANIMALS.c.id, ANIMALS.c.patient_id).where(
                    ANIMALS.c.patient_id.in_(patient_ids), ANIMALS.c.merged_into_id.is_(None)
                )
            )
        }
        if patient_ids
        else {}
    )
    animal_of: dict[str, int | None] = {}
    for r in rows:
        link = orders.get(r.study_instance_uid)
        animal_of[r.study_instance_uid] = (
            int(link.animal_id) if link is not None else by_patient_id.get(r.patient_id)
        )
    details = _animal_details(conn, {a for a in animal_of.values() if a is not None})
    hits = []
    for r in rows:
        link = orders.get(r.study_instance_uid)
        animal_id = animal_of[r.study_instance_uid]
        animal = details.get(animal_id) if animal_id is not None else None
        family, _, given = r.patient_name.partition("^")
        if animal is None:
            name = given.split("^")[0].strip() if given else family.strip()
            owner = _pn_label(r.responsible_person) or (owner_label(family, "") if given else "")
            species, breed = r.patient_species_description, r.patient_breed_description
        else:
            name, owner, species, breed = animal["name"], animal["owner"], animal["species"], animal["breed"]
        status = str(link.status) if link is not None else (LINKED if animal_id is not None else UNMATCHED)
        hits.append(
            StudyHit(
                study_uid=r.study_instance_uid,
                accession_number=r.accession_number,
                study_date=iso_date(r.study_date),
                study_time=r.study_time,
                description=r.study_description,
                modalities=_split(r.modalities_in_study),
                body_parts=_split(r.body_parts_examined),
                animal_id=animal_id,
                order_id=int(link.id) if link is not None else None,
                patient_id=r.patient_id,
                animal_name=name,
                species=species,
                breed=breed,
                owner=owner,
                series=r.num_series,
                instances=r.num_instances,
                status=status,
                received_at=r.created_at.isoformat() if r.created_at else "",
            )
        )
    return hits


def search_studies(conn: Connection, query: ClinicSearch) -> StudyPage:
    """One page of the studies matching ``query``, newest first, with the total."""
    where = study_filters(conn, query)
    total = conn.execute(select(func.count()).select_from(STUDIES).where(*where)).scalar_one()
    rows = conn.execute(
        select(*STUDY_COLUMNS).where(*where).order_by(*NEWEST_FIRST).limit(query.limit).offset(query.offset)
    ).all()
    return StudyPage(total=int(total), items=study_hits(conn, list(rows)))


def animal_study_stats(conn: Connection, animal_ids: list[int]) -> dict[int, tuple[int, str]]:
    """(number of studies, newest study date) per animal: order links and Patient ID together."""
    if not animal_ids:
        return {}
    by_pid = (
        select(ANIMALS.c.id.label("animal_id"), STUDIES.c.study_instance_uid, STUDIES.c.study_date)
        .join(STUDIES, STUDIES.c.patient_id == ANIMALS.c.patient_id)
        .where(ANIMALS.c.id.in_(animal_ids))
    )
    by_order = (
        select(ORDERS.c.animal_id, STUDIES.c.study_instance_uid, STUDIES.c.study_date)
        .join(LINKS, LINKS.c.order_id == ORDERS.c.id)
        .join(STUDIES, STUDIES.c.study_instance_uid == LINKS.c.study_instance_uid)
        .where(ORDERS.c.animal_id.in_(animal_ids))
    )
    both = union(by_pid, by_order).subquery()
    rows = conn.execute(
        select(both.c.animal_id, func.count(), func.max(both.c.study_date)).group_by(both.c.animal_id)
    )
    return {int(r[0]): (int(r[1]), str(r[2] or "")) for r in rows}


def _animal_hit(a: AnimalRead, stats: tuple[int, str]) -> AnimalHit:
    return AnimalHit(
        id=a.id,
        patient_id=a.patient_id,
        name=a.name,
        species=a.species.name if a.species is not None else a.species_text,
        breed=a.breed_text or (a.breed.name if a.breed is not None else ""),
        sex=a.sex,
        neuter_status=a.neuter_status,
        birth_date=a.birth_date,
        weight_kg=a.weight_kg,
        microchip=a.microchip,
        alerts=a.alerts,
        deceased=a.deceased,
        owners=[owner_label(o.family_name, o.given_name) for o in a.owners],
        study_count=stats[0],
        last_study_date=iso_date(stats[1]),
    )


def search(archive: Archive, query: ClinicSearch) -> SearchResult:
    """The clinic search: animals matching the box and species/breed, and one page of studies.

    Animals are listed only when ``q``, ``species`` or ``breed`` is given (the first ``limit``, by
    name); ``offset`` pages the studies. ``Invalid`` for an unknown status or inverted dates.
    """
    started = time.perf_counter()
    validate(query)
    animals: list[AnimalHit] = []
    animals_total = 0
    if query.q.strip() or query.species.strip() or query.breed.strip():
        page = search_animals(
            archive, AnimalQuery(q=query.q, species=query.species, breed=query.breed, limit=query.limit)
        )
        animals_total = page.total
        with archive.engine.connect() as conn:
            stats = animal_study_stats(conn, [a.id for a in page.items])
        animals = [_animal_hit(a, stats.get(a.id, (0, ""))) for a in page.items]
    with archive.engine.connect() as conn:
        studies = search_studies(conn, query)
    took = (time.perf_counter() - started) * 1000
    return SearchResult(took_ms=round(took, 2), animals=animals, animals_total=animals_total, studies=studies)


__all__ = [
    "STATUSES",
    "AnimalHit",
    "ClinicSearch",
    "SearchResult",
    "StudyHit",
    "StudyPage",
    "animal_study_stats",
    "iso_date",
    "owner_label",
    "search",
    "search_studies",
    "study_filters",
    "study_hits",
]
