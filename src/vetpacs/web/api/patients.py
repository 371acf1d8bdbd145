"""``/api/v1/owners``, ``/api/v1/animals`` and ``/api/v1/species``: owners, animals, merge, vocabulary.

Reads need ``patients:read``; creates, changes, owner links and merges need ``patients:write``;
adding to the species and breed vocabulary needs ``system:manage``. Creates honour an
``Idempotency-Key`` header (see ``web/idempotency.py``). Thin: each route calls one service of
``vetpacs.patients``; domain errors become problem+json in ``web/errors.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from vetpacs.auth import Actor, Permission
from vetpacs.patients import merge as merging
from vetpacs.patients import service as svc
from vetpacs.patients import vocabulary as voc
from vetpacs.patients.schemas import (
    AnimalCreate,
    AnimalPage,
    AnimalQuery,
    AnimalRead,
    AnimalUpdate,
    BreedCreate,
    BreedRead,
    MergeRequest,
    MergeResult,
    OwnerCreate,
    OwnerLink,
    OwnerPage,
    OwnerRead,
    OwnerUpdate,
    SpeciesCreate,
    SpeciesRead,
)
from vetpacs.web.deps import archive_of, require, settings_of
from vetpacs.web.idempotency import idempotent

Reader = Annotated[Actor, Depends(require(Permission.PATIENTS_READ))]
Writer = Annotated[Actor, Depends(require(Permission.PATIENTS_WRITE))]
Manager = Annotated[Actor, Depends(require(Permission.SYSTEM_MANAGE))]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]

IDEMPOTENT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Conflict (duplicate) or a request with this Idempotency-Key still running"},
    422: {"description": "Invalid body, or an Idempotency-Key reused with another body"},
}

owners = APIRouter(prefix="/owners", tags=["owners"])
animals = APIRouter(prefix="/animals", tags=["animals"])
species = APIRouter(prefix="/species", tags=["species"])


# --------------------------------------------------------------------------- owners
@owners.get("", response_model=OwnerPage)
def list_owners(
    request: Request,
    actor: Reader,
    q: Annotated[str, Query(description="Family name prefix, PMS id, phone or email.")] = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> OwnerPage:
    """Owners by family name, one page, with the total that match."""
    return svc.list_owners(archive_of(request), q=q, limit=limit, offset=offset)


@owners.post("", response_model=OwnerRead, status_code=201, responses=IDEMPOTENT)
def create_owner(body: OwnerCreate, request: Request, actor: Writer) -> JSONResponse:
    """Register an owner (client). Send an ``Idempotency-Key`` header to retry safely."""
    return idempotent(
        request,
        actor,
        body,
        lambda: (201, svc.create_owner(archive_of(request), body, actor=actor).model_dump(mode="json")),
    )


@owners.get("/{owner_id}", response_model=OwnerRead)
def get_owner(owner_id: int, request: Request, actor: Reader) -> OwnerRead:
    """One owner."""
    return svc.get_owner(archive_of(request), owner_id)


@owners.patch("/{owner_id}", response_model=OwnerRead)
def update_owner(owner_id: int, body: OwnerUpdate, request: Request, actor: Writer) -> OwnerRead:
    """Change an owner's details (absent fields stay as they are)."""
    return svc.update_owner(archive_of(request), owner_id, body, actor=actor)


# --------------------------------------------------------------------------- animals
@animals.get("", response_model=AnimalPage)
def search_animals(
    request: Request,
    actor: Reader,
    q: Annotated[
        str, Query(description="Animal or owner family name prefix, patient id, microchip or PMS id.")
    ] = "",
    species: Annotated[str, Query(description="Species code or name (e.g. 448771007, Canine, dog).")] = "",
    breed: Annotated[str, Query(description="Breed code or name prefix.")] = "",
    owner: Annotated[str, Query(description="Owner family name prefix, or owner id.")] = "",
    microchip: str = "",
    external_id: str = "",
    patient_id: str = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> AnimalPage:
    """Search animals (case-insensitive; every criterion must match; merged records hidden)."""
    query = AnimalQuery(
        q=q,
        species=species,
        breed=breed,
        owner=owner,
        microchip=microchip,
        external_id=external_id,
        patient_id=patient_id,
        limit=limit,
        offset=offset,
    )
    return svc.search_animals(archive_of(request), query)


@animals.post("", response_model=AnimalRead, status_code=201, responses=IDEMPOTENT)
def create_animal(body: AnimalCreate, request: Request, actor: Writer) -> JSONResponse:
    """Register an animal; the Patient ID is generated when not given. ``Idempotency-Key`` honoured."""
    settings = settings_of(request)

    def create() -> tuple[int, dict[str, Any]]:
        animal = svc.create_animal(
            archive_of(request),
            body,
            actor=actor,
            patient_id_prefix=settings.patient_id_prefix,
            issuer_of_patient_id=settings.issuer_of_patient_id,
        )
        return 201, animal.model_dump(mode="json")

    return idempotent(request, actor, body, create)


@animals.get("/{animal_id}", response_model=AnimalRead)
def get_animal(animal_id: int, request: Request, actor: Reader) -> AnimalRead:
    """One animal (a merged one shows ``merged_into_id``)."""
    return svc.get_animal(archive_of(request), animal_id)


@animals.patch("/{animal_id}", response_model=AnimalRead)
def update_animal(animal_id: int, body: AnimalUpdate, request: Request, actor: Writer) -> AnimalRead:
    """Change an animal (absent fields stay; an empty ``species_code``/``breed_code`` clears it)."""
    return svc.update_animal(archive_of(request), animal_id, body, actor=actor)


@animals.get("/{animal_id}/dicom", response_model=dict[str, Any])
def animal_dicom(animal_id: int, request: Request, actor: Reader) -> dict[str, Any]:
    """The animal's DICOM patient identity as DICOM JSON (PS3.18 F.2): what the worklist sends."""
    with archive_of(request).engine.connect() as conn:
        return svc.dicom_patient_attributes(conn, animal_id).to_json_dict()


@animals.post("/{animal_id}/owners", response_model=AnimalRead)
def link_owner(animal_id: int, body: OwnerLink, request: Request, actor: Writer) -> AnimalRead:
    """Link an owner to the animal, or change the link; ``is_primary`` makes them the Responsible Person."""
    return svc.link_owner(archive_of(request), animal_id, body, actor=actor)


@animals.delete("/{animal_id}/owners/{owner_id}", response_model=AnimalRead)
def unlink_owner(animal_id: int, owner_id: int, request: Request, actor: Writer) -> AnimalRead:
    """Remove an owner from the animal (the next owner becomes primary when needed)."""
    return svc.unlink_owner(archive_of(request), animal_id, owner_id, actor=actor)


@animals.post("/{survivor_id}/merge", response_model=MergeResult)
def merge_animals(survivor_id: int, body: MergeRequest, request: Request, actor: Writer) -> MergeResult:
    """Merge ``merged_id`` into this animal (IHE PIR): orders, owners and stored studies follow."""
    return merging.merge_animals(archive_of(request), survivor_id, body.merged_id, actor=actor)


# --------------------------------------------------------------------------- vocabulary
@species.get("", response_model=list[SpeciesRead])
def list_species(request: Request, actor: Reader) -> list[SpeciesRead]:
    """The species vocabulary (SNOMED CT codes of CID 7454 where known, local ``99VETPACS`` codes else)."""
    return voc.list_species(archive_of(request))


@species.post("", response_model=SpeciesRead, status_code=201, responses=IDEMPOTENT)
def add_species(body: SpeciesCreate, request: Request, actor: Manager) -> JSONResponse:
    """Add a species to the vocabulary (admins)."""
    return idempotent(
        request,
        actor,
        body,
        lambda: (201, voc.add_species(archive_of(request), body, actor=actor).model_dump(mode="json")),
    )


@species.get("/{species_id}/breeds", response_model=list[BreedRead])
def list_breeds(species_id: int, request: Request, actor: Reader) -> list[BreedRead]:
    """The breeds of one species."""
    return voc.list_breeds(archive_of(request), species_id)


@species.post("/{species_id}/breeds", response_model=BreedRead, status_code=201, responses=IDEMPOTENT)
def add_breed(species_id: int, body: BreedCreate, request: Request, actor: Manager) -> JSONResponse:
    """Add a breed to a species (admins)."""
    return idempotent(
        request,
        actor,
        body,
        lambda: (
            201,
            voc.add_breed(archive_of(request), species_id, body, actor=actor).model_dump(mode="json"),
        ),
    )


routers = (owners, animals, species)
