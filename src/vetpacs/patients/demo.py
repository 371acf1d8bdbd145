"""Register the demo clinic's owners and animals (``vetpacs demo``) so the chart and the archive agree.

Same Patient IDs (VP000101...), issuer, species, breed, sex, neuter status, birth date, weight and
microchip as the generated demo studies (``vetpacs.demo``). Running it again adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from vetpacs.auth.audit import Database
from vetpacs.auth.roles import Actor
from vetpacs.demo import _PETS, ISSUER, SPECIES_CODES
from vetpacs.patients.schemas import AnimalCreate, Neuter, OwnerCreate, OwnerLink, Sex
from vetpacs.patients.service import ANIMALS, OWNERS, create_animal, create_owner
from vetpacs.patients.vocabulary import BREEDS, SPECIES


@dataclass(frozen=True)
class DemoPatients:
    """How many demo owners and animals were added (0 when already there)."""

    owners: int
    animals: int


def register_demo_patients(db: Database, *, actor: Actor) -> DemoPatients:
    """Create the demo owners and animals that are missing (by Patient ID and owner name)."""
    owners_added = animals_added = 0
    for pet in _PETS.values():
        with db.engine.connect() as conn:
            if conn.execute(select(ANIMALS.c.id).where(ANIMALS.c.patient_id == pet.patient_id)).first():
                continue
            owner = conn.execute(
                select(OWNERS.c.id).where(
                    func.upper(OWNERS.c.family_name) == pet.family.upper(), OWNERS.c.given_name == pet.given
                )
            ).first()
            species_code = SPECIES_CODES[pet.species][0]
            species = conn.execute(select(SPECIES.c.id).where(SPECIES.c.code == species_code)).first()
            breed = (
                conn.execute(
                    select(BREEDS.c.code).where(
                        BREEDS.c.species_id == species.id, func.lower(BREEDS.c.name) == pet.breed.lower()
                    )
                ).first()
                if species is not None
                else None
            )
        if owner is None:
            owner_id = create_owner(
                db, OwnerCreate(family_name=pet.family.title(), given_name=pet.given), actor=actor
            ).id
            owners_added += 1
        else:
            owner_id = owner.id
        create_animal(
            db,
            AnimalCreate(
                patient_id=pet.patient_id,
                name=pet.name,
                species_code=species_code if species is not None else None,
                species_text="" if species is not None else pet.species,
                breed_code=breed.code if breed is not None else None,
                breed_text="" if breed is not None else pet.breed,
                sex=Sex(pet.sex),
                neuter_status=Neuter(pet.neutered),
                birth_date=pet.birth,
                weight_kg=float(pet.weight),
                microchip=pet.microchip,
                owners=[OwnerLink(owner_id=owner_id)],
            ),
            actor=actor,
            issuer_of_patient_id=ISSUER,
        )
        animals_added += 1
    return DemoPatients(owners=owners_added, animals=animals_added)
