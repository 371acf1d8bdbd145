"""Report templates per species and body region, seeded in code (docs/reports.md).

A template gives a new draft its title and the default text of each section (findings, conclusion,
recommendations): the normal findings a reader edits rather than types. Species are matched by the
SNOMED CT organism code of the species vocabulary (migration 0004), by its name (``Canine``) or by
its common name (``dog``); body regions are DICOM Body Part Examined values (PS3.16 CID 4031).
"""

from __future__ import annotations

from dataclasses import dataclass

DOG, CAT, HORSE = "448771007", "448169003", "35354009"
RABBIT, FERRET, GUINEA_PIG = "36571002", "449310008", "125076001"

# SNOMED CT organism code -> the names a caller may filter by (species vocabulary, migration 0004).
SPECIES_NAMES: dict[str, tuple[str, ...]] = {
    DOG: ("dog", "canine"),
    CAT: ("cat", "feline"),
    HORSE: ("horse", "equine"),
    RABBIT: ("rabbit", "lapine", "exotic"),
    FERRET: ("ferret", "exotic"),
    GUINEA_PIG: ("guinea pig", "exotic"),
}


@dataclass(frozen=True)
class Template:
    """One report template: for which species and region, and the default text of each section."""

    key: str
    name: str
    species: tuple[str, ...]  # SNOMED CT organism codes; empty = any species
    body_region: str  # DICOM Body Part Examined (CHEST, ABDOMEN, PELVIS, STIFLE, JAW, LIMB, WHOLEBODY)
    modality: str  # the usual modality (DX, IO...); informative
    title: str
    findings: str
    conclusion: str
    recommendations: str = ""

    def species_names(self) -> list[str]:
        """The common names of the template's species (``dog``, ``cat``...)."""
        return [SPECIES_NAMES[c][0] for c in self.species if c in SPECIES_NAMES]

    def matches_species(self, species: str) -> bool:
        """Whether ``species`` (a code, a name or a common name, any case) is one of this template's."""
        wanted = species.strip().lower()
        if not self.species or not wanted:
            return True
        return any(wanted == code or wanted in SPECIES_NAMES.get(code, ()) for code in self.species)


TEMPLATES: tuple[Template, ...] = (
    Template(
        key="thorax-dog",
        name="Thorax, dog",
        species=(DOG,),
        body_region="CHEST",
        modality="DX",
        title="Thoracic radiographs",
        findings=(
            "Right lateral, left lateral and ventrodorsal views.\n"
            "Cardiac silhouette: normal size and shape; vertebral heart score within the reference "
            "range for the breed.\n"
            "Pulmonary parenchyma: no abnormal interstitial, bronchial or alveolar pattern.\n"
            "Pulmonary vessels: arteries and veins of similar and normal size.\n"
            "Pleural space: no fluid or gas.\n"
            "Mediastinum, trachea and oesophagus: unremarkable.\n"
            "Included skeleton and soft tissues: unremarkable."
        ),
        conclusion="No radiographic abnormality of the thorax.",
        recommendations="",
    ),
    Template(
        key="thorax-cat",
        name="Thorax, cat",
        species=(CAT,),
        body_region="CHEST",
        modality="DX",
        title="Thoracic radiographs",
        findings=(
            "Right lateral and ventrodorsal views.\n"
            "Cardiac silhouette: normal size and shape; vertebral heart score within the feline "
            "reference range.\n"
            "Pulmonary parenchyma: no bronchial, interstitial or alveolar pattern.\n"
            "Pleural space: no fluid or gas.\n"
            "Mediastinum and trachea: unremarkable."
        ),
        conclusion="No radiographic abnormality of the thorax.",
    ),
    Template(
        key="abdomen-dog",
        name="Abdomen, dog",
        species=(DOG,),
        body_region="ABDOMEN",
        modality="DX",
        title="Abdominal radiographs",
        findings=(
            "Right lateral and ventrodorsal views.\n"
            "Serosal detail: good.\n"
            "Liver: normal size; gastric axis normal.\n"
            "Stomach and intestines: normal gas and content pattern; no dilated loops.\n"
            "Kidneys and urinary bladder: normal size and shape where visible; no mineral opacities.\n"
            "Prostate / uterus: not enlarged.\n"
            "Included skeleton: unremarkable."
        ),
        conclusion="No radiographic abnormality of the abdomen.",
    ),
    Template(
        key="abdomen-cat",
        name="Abdomen, cat",
        species=(CAT,),
        body_region="ABDOMEN",
        modality="DX",
        title="Abdominal radiographs",
        findings=(
            "Right lateral and ventrodorsal views.\n"
            "Serosal detail: good; normal falciform fat.\n"
            "Liver and spleen: normal size.\n"
            "Stomach and intestines: normal gas pattern; no plication or dilated loops.\n"
            "Kidneys: normal size (2.0-2.5 times the length of L2); no mineral opacities.\n"
            "Urinary bladder: normal."
        ),
        conclusion="No radiographic abnormality of the abdomen.",
    ),
    Template(
        key="hips-dog",
        name="Pelvis and hips, dog (musculoskeletal)",
        species=(DOG,),
        body_region="PELVIS",
        modality="DX",
        title="Pelvis and hip joints",
        findings=(
            "Extended ventrodorsal hip view, frog-leg view.\n"
            "Hip joints: femoral heads well seated and congruent with the acetabula; Norberg angles "
            "above 105 degrees.\n"
            "No osteophytes on the femoral necks or acetabular rims; no subchondral sclerosis.\n"
            "Pelvis and lumbosacral junction: unremarkable."
        ),
        conclusion="Normal hip joints; no radiographic sign of hip dysplasia.",
    ),
    Template(
        key="stifle-tplo",
        name="Stifle, TPLO planning or follow-up (dog)",
        species=(DOG,),
        body_region="KNEE",
        modality="DX",
        title="Stifle radiographs (TPLO)",
        findings=(
            "Mediolateral (stifle and tarsus at 90 degrees) and caudocranial views.\n"
            "Joint effusion: none / mild / marked.\n"
            "Periarticular osteophytes: none.\n"
            "Tibial plateau angle: measured on the mediolateral view (see measurements).\n"
            "Implant (follow-up): plate and screws intact, no loosening; osteotomy healing."
        ),
        conclusion="",
        recommendations="Recheck radiographs 8 weeks after surgery.",
    ),
    Template(
        key="dental",
        name="Dental (dog and cat)",
        species=(DOG, CAT),
        body_region="JAW",
        modality="IO",
        title="Intraoral dental radiographs",
        findings=(
            "Full-mouth intraoral series.\n"
            "Alveolar bone height: normal.\n"
            "Periodontal ligament space and lamina dura: normal.\n"
            "No tooth resorption, periapical lucency or retained roots.\n"
            "Missing teeth: none."
        ),
        conclusion="No radiographic dental abnormality.",
    ),
    Template(
        key="equine-limb",
        name="Equine limb",
        species=(HORSE,),
        body_region="EXTREMITY",
        modality="DX",
        title="Equine limb radiographs",
        findings=(
            "Lateromedial, dorsopalmar/plantar and oblique views of the region examined.\n"
            "Bones: no fracture, periosteal reaction or lysis.\n"
            "Joints: normal joint spaces; no osteophytes, enthesophytes or osseous fragments.\n"
            "Navicular bone (if included): normal synovial invaginations.\n"
            "Soft tissues: no swelling."
        ),
        conclusion="No radiographic abnormality of the limb region examined.",
    ),
    Template(
        key="exotic-whole-body",
        name="Exotic, whole body",
        species=(RABBIT, FERRET, GUINEA_PIG),
        body_region="WHOLEBODY",
        modality="DX",
        title="Whole body radiographs",
        findings=(
            "Lateral and ventrodorsal whole body views.\n"
            "Skeleton: normal bone opacity; no fracture.\n"
            "Thorax: normal cardiac silhouette and lung fields.\n"
            "Abdomen: normal gastrointestinal gas pattern; no mineral opacities in the urinary tract.\n"
            "Skull and teeth (where included): normal."
        ),
        conclusion="No radiographic abnormality.",
    ),
    Template(
        key="general",
        name="General (any species and region)",
        species=(),
        body_region="",
        modality="",
        title="Imaging report",
        findings="",
        conclusion="",
    ),
)

BY_KEY: dict[str, Template] = {t.key: t for t in TEMPLATES}


def find_templates(*, species: str = "", body_region: str = "") -> list[Template]:
    """The templates for a species (code, name or common name) and a body region, in catalog order.

    An empty filter matches everything; the general template (no species, no region) always matches.
    """
    region = body_region.strip().upper()
    return [
        t
        for t in TEMPLATES
        if t.matches_species(species) and (not region or not t.body_region or t.body_region == region)
    ]
