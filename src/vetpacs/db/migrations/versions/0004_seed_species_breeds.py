"""seed the species and breed vocabulary; case-insensitive search indexes on names

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 01:10:00.000000

Species codes in scheme ``SCT`` are the SNOMED CT codes DICOM lists in CID 7454 (Animal Taxonomic
Rank Values) and breed codes in scheme ``SCT`` those of CID 7480 (Breed), both checked against
DICOM PS3.16 as shipped in pydicom 3.0.2 (``pydicom.sr``). Everything else uses local codes in the
private scheme ``99VETPACS`` (PS3.3 8.2: ``99`` marks a private scheme): birds and reptiles (not in
CID 7454) and breeds absent from CID 7480. No SNOMED CT code here is a guess. Note: the horse is
35354009 *Equus caballus*; 388445009 is the genus *Equus*.

Inserts are idempotent: a row whose (scheme, code) exists is left alone, so an admin's edits survive
and running the upgrade twice is harmless. The downgrade removes seeded rows no animal uses.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCT = "SCT"
LOCAL = "99VETPACS"

# (code, scheme, name = Patient Species Description, common name, latin name = Code Meaning)
SPECIES: list[tuple[str, str, str, str, str]] = [
    # verified: DICOM CID 7454
    ("448771007", SCT, "Canine", "dog", "Canis lupus familiaris"),
    ("448169003", SCT, "Feline", "cat", "Felis catus"),
    ("35354009", SCT, "Equine", "horse", "Equus caballus"),
    ("34618005", SCT, "Bovine", "cattle", "Bos taurus"),
    ("36571002", SCT, "Lapine", "rabbit", "Oryctolagus cuniculus"),
    ("449310008", SCT, "Ferret", "ferret", "Mustela putorius furo"),
    ("125099002", SCT, "Ovine", "sheep", "Ovis aries"),
    ("125097000", SCT, "Caprine", "goat", "Capra hircus"),
    ("78678003", SCT, "Porcine", "pig", "Sus scrofa"),
    ("125076001", SCT, "Guinea pig", "guinea pig", "Cavia porcellus"),
    # local: birds
    ("SP-BUDGERIGAR", LOCAL, "Budgerigar", "budgie", "Melopsittacus undulatus"),
    ("SP-COCKATIEL", LOCAL, "Cockatiel", "cockatiel", "Nymphicus hollandicus"),
    ("SP-AFRGREY", LOCAL, "African grey parrot", "parrot", "Psittacus erithacus"),
    ("SP-CANARY", LOCAL, "Canary", "canary", "Serinus canaria domestica"),
    ("SP-CHICKEN", LOCAL, "Chicken", "chicken", "Gallus gallus domesticus"),
    ("SP-BIRD", LOCAL, "Bird (other)", "bird", "Aves"),
    # local: reptiles
    ("SP-BEARDEDDRAGON", LOCAL, "Bearded dragon", "bearded dragon", "Pogona vitticeps"),
    ("SP-LEOPARDGECKO", LOCAL, "Leopard gecko", "gecko", "Eublepharis macularius"),
    ("SP-GREENIGUANA", LOCAL, "Green iguana", "iguana", "Iguana iguana"),
    ("SP-BALLPYTHON", LOCAL, "Ball python", "python", "Python regius"),
    ("SP-CORNSNAKE", LOCAL, "Corn snake", "corn snake", "Pantherophis guttatus"),
    ("SP-REDEARSLIDER", LOCAL, "Red-eared slider", "terrapin", "Trachemys scripta elegans"),
    ("SP-HERMANNTORT", LOCAL, "Hermann's tortoise", "tortoise", "Testudo hermanni"),
    ("SP-REPTILE", LOCAL, "Reptile (other)", "reptile", "Reptilia"),
]

# (species code, breed code, scheme, name)
BREEDS: list[tuple[str, str, str, str]] = [
    # dogs (verified: DICOM CID 7480)
    ("448771007", "62137007", SCT, "Labrador Retriever"),
    ("448771007", "58108001", SCT, "Golden Retriever"),
    ("448771007", "42252000", SCT, "German Shepherd"),
    ("448771007", "59643008", SCT, "French Bulldog"),
    ("448771007", "132388009", SCT, "English Bulldog"),
    ("448771007", "44696006", SCT, "Beagle"),
    ("448771007", "2062007", SCT, "Dachshund"),
    ("448771007", "132369002", SCT, "Miniature Dachshund"),
    ("448771007", "507002", SCT, "Standard Poodle"),
    ("448771007", "40121001", SCT, "Miniature Poodle"),
    ("448771007", "25243005", SCT, "Toy Poodle"),
    ("448771007", "13284009", SCT, "Yorkshire Terrier"),
    ("448771007", "42250008", SCT, "Boxer"),
    ("448771007", "132561000", SCT, "Border Collie"),
    ("448771007", "66495005", SCT, "Cavalier King Charles Spaniel"),
    ("448771007", "9761009", SCT, "Chihuahua"),
    ("448771007", "14245006", SCT, "Rottweiler"),
    ("448771007", "83216009", SCT, "Staffordshire Bull Terrier"),
    ("448771007", "21418008", SCT, "English Cocker Spaniel"),
    ("448771007", "62228004", SCT, "English Springer Spaniel"),
    ("448771007", "31077009", SCT, "Shih Tzu"),
    ("448771007", "60252000", SCT, "Pug"),
    ("448771007", "27615007", SCT, "Great Dane"),
    ("448771007", "47075006", SCT, "Dobermann"),
    ("448771007", "33458006", SCT, "Bernese Mountain Dog"),
    ("448771007", "69529009", SCT, "Border Terrier"),
    ("448771007", "40727008", SCT, "West Highland White Terrier"),
    ("448771007", "76351004", SCT, "Whippet"),
    ("448771007", "112494009", SCT, "Greyhound"),
    ("448771007", "300004", SCT, "Miniature Schnauzer"),
    ("448771007", "132521001", SCT, "Australian Shepherd"),
    ("448771007", "39348004", SCT, "Maltese"),
    ("448771007", "41538003", SCT, "Bichon Frise"),
    ("448771007", "10040000", SCT, "Pomeranian"),
    ("448771007", "69249004", SCT, "Weimaraner"),
    ("448771007", "52253003", SCT, "Newfoundland"),
    ("448771007", "52105008", SCT, "Vizsla"),
    ("448771007", "132619000", SCT, "Mixed breed"),
    # dogs (local: not in CID 7480)
    ("448771007", "DOG-JRT", LOCAL, "Jack Russell Terrier"),
    ("448771007", "DOG-SIBHUSKY", LOCAL, "Siberian Husky"),
    ("448771007", "DOG-LABRADOODLE", LOCAL, "Labradoodle"),
    ("448771007", "DOG-COCKAPOO", LOCAL, "Cockapoo"),
    # cats (verified: DICOM CID 7480)
    ("448169003", "15020009", SCT, "Domestic Shorthair"),
    ("448169003", "409914009", SCT, "Domestic Mediumhair"),
    ("448169003", "8419007", SCT, "Domestic Longhair"),
    ("448169003", "81866001", SCT, "Maine Coon"),
    ("448169003", "68086001", SCT, "Persian"),
    ("448169003", "65694005", SCT, "Siamese"),
    ("448169003", "70653001", SCT, "British Shorthair"),
    ("448169003", "132654007", SCT, "Ragdoll"),
    ("448169003", "132661006", SCT, "Bengal"),
    ("448169003", "132680008", SCT, "Sphynx"),
    ("448169003", "132672001", SCT, "Norwegian Forest Cat"),
    ("448169003", "36074003", SCT, "Abyssinian"),
    ("448169003", "89065000", SCT, "Burmese"),
    ("448169003", "51692004", SCT, "Devon Rex"),
    ("448169003", "84797007", SCT, "Russian Blue"),
    ("448169003", "43219001", SCT, "Birman"),
    ("448169003", "73049001", SCT, "Scottish Fold"),
    ("448169003", "26057009", SCT, "Exotic Shorthair"),
    ("448169003", "132653001", SCT, "Mixed breed"),
    # horses (verified: DICOM CID 7480)
    ("35354009", "407402001", SCT, "Warmblood"),
    ("35354009", "54098002", SCT, "Arabian"),
    ("35354009", "76467006", SCT, "Quarter Horse"),
    ("35354009", "66168008", SCT, "Hanoverian"),
    ("35354009", "133022007", SCT, "Dutch Warmblood"),
    ("35354009", "25813002", SCT, "Holsteiner"),
    ("35354009", "1789009", SCT, "Trakehner"),
    ("35354009", "133111006", SCT, "Friesian"),
    ("35354009", "80777007", SCT, "Andalusian"),
    ("35354009", "55167009", SCT, "Appaloosa"),
    ("35354009", "34200004", SCT, "Standardbred"),
    ("35354009", "54447000", SCT, "Haflinger"),
    ("35354009", "70457009", SCT, "Icelandic Horse"),
    ("35354009", "13487004", SCT, "Shire"),
    ("35354009", "1247002", SCT, "Clydesdale"),
    ("35354009", "69067004", SCT, "Shetland Pony"),
    ("35354009", "132744000", SCT, "Welsh Pony"),
    ("35354009", "133097008", SCT, "Connemara Pony"),
    ("35354009", "3997000", SCT, "Pony"),
    ("35354009", "406721004", SCT, "Mixed breed"),
    # horses (local)
    ("35354009", "HORSE-TB", LOCAL, "Thoroughbred"),
    # cattle (verified: DICOM CID 7480)
    ("34618005", "26105007", SCT, "Holstein-Friesian"),
    ("34618005", "51937006", SCT, "Jersey"),
    ("34618005", "84923006", SCT, "Aberdeen Angus"),
    ("34618005", "125074003", SCT, "Hereford"),
    ("34618005", "28483003", SCT, "Simmental"),
    ("34618005", "131584009", SCT, "Charolais"),
    ("34618005", "48702000", SCT, "Limousin"),
    ("34618005", "44230005", SCT, "Brown Swiss"),
    ("34618005", "83173002", SCT, "Highland"),
    ("34618005", "84839000", SCT, "Guernsey"),
    ("34618005", "131572007", SCT, "Belgian Blue"),
    ("34618005", "8989009", SCT, "Ayrshire"),
    ("34618005", "80835003", SCT, "Shorthorn"),
    ("34618005", "133283007", SCT, "Wagyu"),
    ("34618005", "409906003", SCT, "Mixed breed"),
    # rabbits (verified: DICOM CID 7480)
    ("36571002", "132901006", SCT, "New Zealand"),
    # rabbits (local)
    ("36571002", "RAB-NETHDWARF", LOCAL, "Netherland Dwarf"),
    ("36571002", "RAB-DWARFLOP", LOCAL, "Dwarf Lop"),
    ("36571002", "RAB-MINILOP", LOCAL, "Mini Lop"),
    ("36571002", "RAB-HOLLANDLOP", LOCAL, "Holland Lop"),
    ("36571002", "RAB-LIONHEAD", LOCAL, "Lionhead"),
    ("36571002", "RAB-REX", LOCAL, "Rex"),
    ("36571002", "RAB-FLEMGIANT", LOCAL, "Flemish Giant"),
    ("36571002", "RAB-DUTCH", LOCAL, "Dutch"),
    ("36571002", "RAB-ANGORA", LOCAL, "Angora"),
    # ferrets (local: ferrets are described by colour and coat, not breed)
    ("449310008", "FER-STANDARD", LOCAL, "Standard coat"),
    ("449310008", "FER-ANGORA", LOCAL, "Angora"),
]

species_t = sa.table(
    "species",
    sa.column("id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("coding_scheme", sa.String),
    sa.column("name", sa.String),
    sa.column("common_name", sa.String),
    sa.column("latin_name", sa.String),
    sa.column("active", sa.Boolean),
)
breeds_t = sa.table(
    "breeds",
    sa.column("id", sa.Integer),
    sa.column("species_id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("coding_scheme", sa.String),
    sa.column("name", sa.String),
    sa.column("active", sa.Boolean),
)
animals_t = sa.table("animals", sa.column("species_id", sa.Integer), sa.column("breed_id", sa.Integer))

# lower(...) expression indexes for the case-insensitive prefix search (patients/service.py)
LOWER_INDEXES = [
    ("ix_animals_name_lower", "animals", "name"),
    ("ix_animals_breed_text_lower", "animals", "breed_text"),
    ("ix_owners_family_name_lower", "owners", "family_name"),
]


def _species_id(conn: sa.Connection, code: str) -> int | None:
    row = conn.execute(
        sa.select(species_t.c.id)
        .where(species_t.c.code == code)
        .order_by((species_t.c.coding_scheme != SCT), species_t.c.id)
    ).first()
    return int(row[0]) if row is not None else None


def upgrade() -> None:
    conn = op.get_bind()
    for code, scheme, name, common, latin in SPECIES:
        exists = conn.execute(
            sa.select(species_t.c.id).where(species_t.c.code == code, species_t.c.coding_scheme == scheme)
        ).first()
        if exists is None:
            conn.execute(
                sa.insert(species_t).values(
                    code=code,
                    coding_scheme=scheme,
                    name=name,
                    common_name=common,
                    latin_name=latin,
                    active=True,
                )
            )
    for species_code, code, scheme, name in BREEDS:
        species_id = _species_id(conn, species_code)
        if species_id is None:
            continue
        exists = conn.execute(
            sa.select(breeds_t.c.id).where(
                breeds_t.c.species_id == species_id,
                breeds_t.c.code == code,
                breeds_t.c.coding_scheme == scheme,
            )
        ).first()
        if exists is None:
            conn.execute(
                sa.insert(breeds_t).values(
                    species_id=species_id, code=code, coding_scheme=scheme, name=name, active=True
                )
            )
    pattern_ops = " text_pattern_ops" if conn.dialect.name == "postgresql" else ""
    for index, table, column in LOWER_INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table} (lower({column}){pattern_ops})")


def downgrade() -> None:
    conn = op.get_bind()
    for index, _table, _column in LOWER_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {index}")
    used_breeds = sa.select(animals_t.c.breed_id).where(animals_t.c.breed_id.is_not(None))
    used_species = sa.select(animals_t.c.species_id).where(animals_t.c.species_id.is_not(None))
    for species_code, code, scheme, _name in BREEDS:
        species_id = _species_id(conn, species_code)
        conn.execute(
            sa.delete(breeds_t).where(
                breeds_t.c.species_id == species_id,
                breeds_t.c.code == code,
                breeds_t.c.coding_scheme == scheme,
                breeds_t.c.id.not_in(used_breeds),
            )
        )
    for code, scheme, *_rest in SPECIES:
        in_use = sa.select(breeds_t.c.species_id).union(used_species)
        conn.execute(
            sa.delete(species_t).where(
                species_t.c.code == code,
                species_t.c.coding_scheme == scheme,
                species_t.c.id.not_in(in_use),
            )
        )
