"""Deterministic generator of demo veterinary DICOM studies.

Writes a small, realistic veterinary clinic dataset (dogs, cats, a horse and a
rabbit; DX radiographs, an ultrasound cine, a CT series and intra-oral dental
images) as DICOM Part 10 files, Explicit VR Little Endian, uncompressed, with
structured synthetic pixel data.  The same ``seed`` always yields byte-identical
files; UIDs are ``2.25.<uuid5>`` derived from the seed.

Files are laid out as ``<out>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

__all__ = ["generate_demo_files"]
_DS = TypeVar("_DS", bound=Dataset)
_Rng = np.random.Generator

DX_SOP = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
IO_SOP = "1.2.840.10008.5.1.4.1.1.1.3"  # Digital Intra-Oral X-Ray Image Storage - For Presentation
US_SOP = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame Image Storage
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
SOP_BY_MODALITY = {"DX": DX_SOP, "IO": IO_SOP, "US": US_SOP, "CT": CT_SOP}

INSTITUTION = "VetPACS Demo Clinic"
ISSUER = "VETPACS-DEMO"
_UID_NS = uuid.UUID("0b6c4e52-8f0e-5d55-9a43-5e1c2b7d9f10")
IMPLEMENTATION_CLASS_UID = "2.25." + str(uuid.uuid5(_UID_NS, "vetpacs-implementation").int)
IMPLEMENTATION_VERSION = "VETPACS_DEMO_1"

# SNOMED CT species codes (DICOM CID 7454 "Animal Taxonomic Rank Values").
SPECIES_CODES: dict[str, tuple[str, str]] = {
    "Canine": ("448771007", "Canis lupus familiaris"),
    "Feline": ("448169003", "Felis catus"),
    "Equine": ("35354009", "Equus caballus"),
    "Lapine": ("36571002", "Oryctolagus cuniculus"),
}
VETS = ("HOLLOWAY^Anne^^Dr.", "OKAFOR^Daniel^^Dr.", "STEIN^Miriam^^Dr.")


@dataclass(frozen=True)
class _Pet:
    patient_id: str
    name: str
    family: str
    given: str
    species: str
    breed: str
    sex: str
    neutered: str
    birth: str
    weight: str
    microchip: str


@dataclass(frozen=True)
class _View:
    label: str  # ImageComments, e.g. "Right lateral"
    position: str  # ViewPosition (DX) or "" (others)
    orientation: tuple[str, str]  # PatientOrientation (quadruped terms)
    kind: str  # pixel generator hint
    portrait: bool = False
    laterality: str = "U"  # ImageLaterality: R, L, U or B


@dataclass(frozen=True)
class _Series:
    modality: str
    body_part: str
    description: str
    views: tuple[_View, ...]


@dataclass(frozen=True)
class _Study:
    pet: _Pet
    date: str
    description: str
    series: tuple[_Series, ...]


_PETS = {
    "max": _Pet(
        "VP000101",
        "Max",
        "BAKER",
        "Emma",
        "Canine",
        "Labrador Retriever",
        "M",
        "ALTERED",
        "20170412",
        "34.2",
        "276098106543210",
    ),
    "luna": _Pet(
        "VP000102",
        "Luna",
        "BAKER",
        "Emma",
        "Feline",
        "Domestic Shorthair",
        "F",
        "ALTERED",
        "20190803",
        "4.1",
        "276098106543227",
    ),
    "ruby": _Pet(
        "VP000103",
        "Ruby",
        "KOWALSKI",
        "Anna",
        "Canine",
        "Cavalier King Charles Spaniel",
        "F",
        "UNALTERED",
        "20220115",
        "8.6",
        "616093900123456",
    ),
    "simba": _Pet(
        "VP000104",
        "Simba",
        "NIELSEN",
        "Lars",
        "Feline",
        "Maine Coon",
        "M",
        "ALTERED",
        "20160921",
        "7.8",
        "208250000456789",
    ),
    "thunder": _Pet(
        "VP000105",
        "Thunder",
        "FISCHER",
        "Julia",
        "Equine",
        "Warmblood",
        "M",
        "ALTERED",
        "20120505",
        "585",
        "276020000987654",
    ),
    "kiwi": _Pet(
        "VP000106",
        "Kiwi",
        "ROSSI",
        "Marco",
        "Lapine",
        "Dwarf Lop",
        "F",
        "ALTERED",
        "20210301",
        "1.9",
        "380260101234567",
    ),
}
_LAT = ("CD", "V")  # lateral: head to the viewer's left, spine up
_VD = ("LE", "CD")  # VD/DV: patient's right on the viewer's left, head up


_STUDIES: tuple[_Study, ...] = (
    _Study(
        _PETS["max"],
        "20250114",
        "Thorax 2 views",
        (
            _Series(
                "DX",
                "CHEST",
                "Thorax",
                (_View("Right lateral", "RL", _LAT, "thorax_lat"), _View("VD", "AP", _VD, "thorax_vd", True)),
            ),
        ),
    ),
    _Study(
        _PETS["luna"],
        "20250122",
        "Thorax 2 views",
        (
            _Series(
                "DX",
                "CHEST",
                "Thorax",
                (_View("Right lateral", "RL", _LAT, "thorax_lat"), _View("VD", "AP", _VD, "thorax_vd", True)),
            ),
        ),
    ),
    _Study(
        _PETS["ruby"],
        "20250203",
        "Pelvis VD (hip screening)",
        (_Series("DX", "PELVIS", "Pelvis", (_View("VD extended legs", "AP", _VD, "pelvis", True, "B"),)),),
    ),
    _Study(
        _PETS["simba"],
        "20250218",
        "Abdominal ultrasound",
        (
            _Series(
                "US",
                "ABDOMEN",
                "Abdomen",
                (
                    _View("B-mode left kidney", "", ("", ""), "bmode"),
                    _View("Colour Doppler left kidney", "", ("", ""), "doppler"),
                ),
            ),
        ),
    ),
    _Study(
        _PETS["ruby"],
        "20250310",
        "CT Head (Chiari-like malformation)",
        (_Series("CT", "HEAD", "Head axial soft tissue", ()),),
    ),
    _Study(
        _PETS["thunder"],
        "20250402",
        "Left fore distal limb 2 views",
        (
            _Series(
                "DX",
                "FOOT",
                "Left fore foot",
                (
                    _View("Lateromedial", "RL", ("PA", "DI"), "limb_lat", True, "L"),
                    _View("Dorsopalmar", "AP", ("L", "DI"), "limb_dp", True, "L"),
                ),
            ),
        ),
    ),
    _Study(
        _PETS["kiwi"],
        "20250512",
        "Skull and whole body",
        (
            _Series(
                "DX",
                "HEAD",
                "Skull",
                (_View("Skull lateral", "RL", _LAT, "skull"), _View("Skull DV", "PA", _VD, "skull_dv", True)),
            ),
            _Series("DX", "WHOLEBODY", "Whole body", (_View("Whole body lateral", "RL", _LAT, "body"),)),
        ),
    ),
    _Study(
        _PETS["luna"],
        "20250605",
        "Dental radiographs",
        (
            _Series(
                "IO",
                "JAW",
                "Dental",
                (
                    _View("Right maxillary premolars", "", ("R", "D"), "maxilla", False, "R"),
                    _View("Left maxillary premolars", "", ("R", "D"), "maxilla", False, "L"),
                    _View("Right mandibular molars", "", ("R", "V"), "mandible", False, "R"),
                    _View("Left mandibular molars", "", ("R", "V"), "mandible", False, "L"),
                ),
            ),
        ),
    ),
)

# Feature tables: (cy, cx, ry, rx, value, angle) in fractions of rows/cols, dome profile.
_FEATURES: dict[str, abc.Sequence[tuple[float, ...]]] = {
    "thorax_lat": [
        (0.5, 0.5, 0.4, 0.47, 2600, 0),
        (0.45, 0.5, 0.26, 0.32, -1700, 0),
        (0.58, 0.44, 0.17, 0.13, 1500, 0),
        (0.2, 0.5, 0.035, 0.46, 3200, 0),
        (0.84, 0.45, 0.02, 0.3, 2200, 0),
    ]
    + [(0.47, 0.24 + 0.065 * i, 0.3, 0.009, 1500, 0.25) for i in range(9)],
    "thorax_vd": [
        (0.5, 0.5, 0.47, 0.42, 2600, 0),
        (0.45, 0.32, 0.3, 0.15, -1700, 0),
        (0.45, 0.68, 0.3, 0.15, -1700, 0),
        (0.55, 0.52, 0.16, 0.15, 1500, 0),
        (0.5, 0.5, 0.47, 0.03, 3200, 0),
    ]
    + [(0.2 + 0.07 * i, 0.5 + s * 0.2, 0.01, 0.2, 1500, s * 0.3) for i in range(9) for s in (-1, 1)],
    "pelvis": [
        (0.5, 0.5, 0.48, 0.4, 2600, 0),
        (0.12, 0.5, 0.14, 0.03, 3200, 0),
        (0.3, 0.36, 0.13, 0.05, 3000, 0.4),
        (0.3, 0.64, 0.13, 0.05, 3000, -0.4),
        (0.45, 0.34, 0.045, 0.055, 3800, 0),
        (0.45, 0.66, 0.045, 0.055, 3800, 0),
        (0.52, 0.43, 0.05, 0.04, -1500, 0),
        (0.52, 0.57, 0.05, 0.04, -1500, 0),
        (0.72, 0.31, 0.26, 0.035, 3600, -0.08),
        (0.72, 0.69, 0.26, 0.035, 3600, 0.08),
    ],
    "limb_lat": [
        (0.5, 0.5, 0.55, 0.2, 2400, 0),
        (0.25, 0.5, 0.3, 0.07, 4200, 0),
        (0.58, 0.5, 0.08, 0.06, 4000, 0.15),
        (0.7, 0.52, 0.05, 0.06, 3900, 0.2),
        (0.5, 0.6, 0.03, 0.03, 3600, 0),
        (0.87, 0.5, 0.12, 0.2, 2000, 0),
        (0.85, 0.5, 0.07, 0.12, 4300, 0),
    ],
    "limb_dp": [
        (0.5, 0.5, 0.55, 0.22, 2400, 0),
        (0.25, 0.5, 0.3, 0.09, 4200, 0),
        (0.58, 0.5, 0.08, 0.08, 4000, 0),
        (0.7, 0.5, 0.05, 0.09, 3900, 0),
        (0.87, 0.5, 0.12, 0.24, 2000, 0),
        (0.86, 0.5, 0.06, 0.16, 4300, 0),
    ],
    "skull": [
        (0.5, 0.5, 0.32, 0.44, 2400, 0),
        (0.42, 0.66, 0.22, 0.2, 3000, 0),
        (0.42, 0.66, 0.19, 0.17, -2200, 0),
        (0.45, 0.3, 0.1, 0.22, -900, 0),
        (0.68, 0.42, 0.04, 0.34, 3400, 0.05),
        (0.56, 0.1, 0.1, 0.015, 4500, 0.5),
    ]
    + [(0.58, 0.25 + 0.05 * i, 0.07, 0.015, 3800, 0) for i in range(6)],
    "skull_dv": [
        (0.5, 0.5, 0.46, 0.34, 2400, 0),
        (0.7, 0.5, 0.22, 0.3, 2800, 0),
        (0.7, 0.5, 0.19, 0.26, -2000, 0),
        (0.35, 0.37, 0.3, 0.03, 3400, 0.1),
        (0.35, 0.63, 0.3, 0.03, 3400, -0.1),
        (0.45, 0.5, 0.07, 0.07, -1200, 0),
    ],
    "body": [
        (0.5, 0.5, 0.3, 0.45, 2600, 0),
        (0.32, 0.52, 0.03, 0.38, 3200, 0),
        (0.42, 0.12, 0.12, 0.09, 3000, 0),
        (0.45, 0.4, 0.15, 0.12, -1400, 0),
        (0.72, 0.3, 0.18, 0.02, 3400, 0.2),
        (0.72, 0.75, 0.18, 0.025, 3400, -0.3),
    ],
}


def _uid(seed: int, *parts: object) -> str:
    """Deterministic UID ``2.25.<uuid5 as integer>`` from the seed and a path."""
    name = "/".join(["vetpacs-demo", str(seed), *map(str, parts)])
    return "2.25." + str(uuid.uuid5(_UID_NS, name).int)


def _blob(
    img: np.ndarray,
    cy: float,
    cx: float,
    ry: float,
    rx: float,
    value: float,
    angle: float = 0.0,
    flat: bool = False,
) -> None:
    """Add a rotated elliptical blob (pixel units) to ``img`` in place, inside its bounding box."""
    r = int(max(ry, rx)) + 1
    y0, y1 = max(0, int(cy) - r), min(img.shape[0], int(cy) + r + 1)
    x0, x1 = max(0, int(cx) - r), min(img.shape[1], int(cx) + r + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
    xx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    u = (yy * c + xx * s) / np.float32(max(ry, 0.5))
    w = (xx * c - yy * s) / np.float32(max(rx, 0.5))
    d = np.maximum(np.float32(1.0) - (u * u + w * w), np.float32(0.0))
    img[y0:y1, x0:x1] += np.float32(value) * ((d > 0) if flat else np.sqrt(d))


def _dx_pixels(rng: _Rng, rows: int, cols: int, kind: str) -> np.ndarray:
    """Synthetic 14-bit radiograph: exposure gradient, feature-table anatomy, marker, noise."""
    img = (
        1200.0
        + 600.0 * np.linspace(0, 1, cols, dtype=np.float32)[None, :]
        + 300.0 * np.linspace(0, 1, rows, dtype=np.float32)[:, None]
    ).astype(np.float32)
    img = np.broadcast_to(img, (rows, cols)).copy()
    for cy, cx, ry, rx, val, ang in _FEATURES[kind]:
        j = rng.normal(0.0, 0.008, 2)
        _blob(
            img,
            (cy + j[0]) * rows,
            (cx + j[1]) * cols,
            ry * rows,
            rx * cols,
            val * rng.uniform(0.9, 1.1),
            ang,
        )
    s = max(2, rows // 40)  # lead L/R marker
    img[rows // 20 : rows // 20 + s, cols // 20 : cols // 20 + s] = 16000.0
    img += rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(55.0)
    return np.clip(img, 0, 16383).astype("<u2")


def _io_pixels(rng: _Rng, rows: int, cols: int, kind: str) -> np.ndarray:
    """Intra-oral radiograph (12 bit): alveolar bone, three teeth with pulp canals, noise."""
    img = np.full((rows, cols), 300.0, dtype=np.float32)
    up = kind == "maxilla"
    _blob(img, rows * (0.2 if up else 0.8), cols / 2, rows * 0.5, cols * 0.7, 1200, flat=True)
    for i, w in enumerate((0.09, 0.12, 0.14)):
        cx = cols * (0.25 + 0.25 * i) + rng.normal(0, cols * 0.01)
        crown_y, root_y = (rows * 0.72, rows * 0.35) if up else (rows * 0.28, rows * 0.65)
        _blob(img, root_y, cx, rows * 0.3, cols * w * 0.6, 1100)
        _blob(img, crown_y, cx, rows * 0.18, cols * w, 2300)
        _blob(img, (crown_y + root_y) / 2, cx, rows * 0.35, cols * 0.012, -900)
    img += rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(25)
    return np.clip(img, 0, 4095).astype("<u2")


def _us_frames(rng: _Rng, rows: int, cols: int, frames: int, rgb: bool) -> np.ndarray:
    """Sector B-mode cine with speckle, a breathing kidney and (optionally) a colour Doppler box."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    r = np.hypot(y - 0.05 * rows, x - cols / 2)
    sector = (np.abs(np.arctan2(x - cols / 2, y - 0.05 * rows)) < 0.6) & (r < 0.92 * rows)
    gain = np.clip(1.2 - r / rows, 0.2, 1.2)
    base = rng.rayleigh(40.0, (rows, cols)).astype(np.float32)
    out = np.zeros((frames, rows, cols, 3) if rgb else (frames, rows, cols), dtype=np.uint8)
    for f in range(frames):
        phase = 2 * math.pi * f / frames
        organ = ((y - rows * (0.55 + 0.05 * math.sin(phase))) / (0.2 * rows)) ** 2 + (
            (x - cols / 2) / (0.3 * cols)
        ) ** 2
        img = (0.6 * base + 0.4 * rng.rayleigh(40.0, (rows, cols)).astype(np.float32)) * gain
        img = np.where(organ < 1.0, img * 0.55, img)  # hypoechoic cortex
        img = np.where(organ < 0.3, img + 80, img)  # echogenic renal sinus
        img = np.where(np.abs(organ - 1.0) < 0.08, img + 90, img)  # capsule
        g = np.where(sector, np.clip(img, 0, 255), 0).astype(np.uint8)
        g[: max(2, rows // 30), :] = 255  # burned-in annotation bar
        if rgb:
            frame = np.repeat(g[:, :, None], 3, axis=2)
            box = sector & (organ < 0.6)
            flow = np.sin(phase + y / 6.0) > 0
            frame[box & flow] = (200, 30, 30)
            frame[box & ~flow] = (30, 60, 210)
            out[f] = frame
        else:
            out[f] = g
    return out


def _ct_slice(rng: _Rng, n: int, t: float) -> np.ndarray:
    """Axial dog head slice (stored = HU + 1024); t runs 0 (rostral) .. 1 (caudal)."""
    yn, xn = np.ogrid[-1 : 1 : complex(0, n), -1 : 1 : complex(0, n)]
    yn, xn = yn.astype(np.float32), xn.astype(np.float32)
    hu = np.full((n, n), -1000.0, dtype=np.float32)
    a, b = 0.25 + 0.45 * t, 0.25 + 0.35 * t
    head = (xn / a) ** 2 + ((yn + 0.05) / b) ** 2
    hu[head < 1.0] = -90.0  # skin / fat
    hu[head < 0.9] = 45.0  # muscle
    hu[(head < 0.72) & (head > 0.55)] = 1100.0  # skull / maxilla
    if t < 0.45:  # nasal cavity with turbinates
        nasal = head < 0.55
        hu[nasal] = -700.0 + 300.0 * (np.sin(xn * 60) * np.cos(yn * 55) > 0.3)[nasal]
    else:  # brain, ventricles
        hu[head < 0.55] = 35.0
        hu[((xn / (0.08 * a)) ** 2 + ((yn + 0.05) / (0.2 * b)) ** 2) < 1.0] = 5.0
    if t < 0.75:  # mandibles
        for sx in (-1, 1):
            hu[((xn - sx * 0.6 * a) / 0.06) ** 2 + ((yn - 0.85 * b) / 0.09) ** 2 < 1.0] = 1300.0
    hu[((yn > 0.85) & (yn < 0.9))[:, 0]] = 200.0  # table
    hu += rng.standard_normal((n, n), dtype=np.float32) * np.float32(10.0)
    stored: np.ndarray = np.clip(hu + 1024.0, 0, 4095).astype("<u2")
    return stored


def _age(birth: str, date: str) -> str:
    """PatientAge (AS) at ``date`` for a ``birth`` date, in years or months."""
    b, d = dt.datetime.strptime(birth, "%Y%m%d"), dt.datetime.strptime(date, "%Y%m%d")
    months = (d.year - b.year) * 12 + d.month - b.month - (d.day < b.day)
    return f"{months // 12:03d}Y" if months >= 24 else f"{max(months, 0):03d}M"


def _set(ds: _DS, **attrs: object) -> _DS:
    """Set several DICOM attributes by keyword and return ``ds``."""
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def _code(value: str, meaning: str) -> Dataset:
    """A SNOMED CT code sequence item."""
    return _set(Dataset(), CodeValue=value, CodingSchemeDesignator="SCT", CodeMeaning=meaning)


def _base(
    study: _Study,
    series: _Series,
    accession: str,
    study_no: int,
    series_no: int,
    uids: tuple[str, str, str],
    inst: int,
    time: str,
) -> Dataset:
    """Patient (incl. veterinary attributes), study, series, equipment and SOP common attributes."""
    pet, date = study.pet, study.date
    start = dt.datetime.strptime(time, "%H%M%S")
    ctime = (start + dt.timedelta(seconds=20 * inst)).strftime("%H%M%S")
    chip = _set(Dataset(), PatientID=pet.microchip, IssuerOfPatientID="MICROCHIP", TypeOfPatientID="RFID")
    return _set(
        Dataset(),
        SpecificCharacterSet="ISO_IR 100",
        ImageType=["ORIGINAL", "PRIMARY"],
        SOPClassUID=SOP_BY_MODALITY[series.modality],
        StudyInstanceUID=uids[0],
        SeriesInstanceUID=uids[1],
        SOPInstanceUID=uids[2],
        StudyDate=date,
        SeriesDate=date,
        ContentDate=date,
        InstanceCreationDate=date,
        StudyTime=time,
        SeriesTime=time,
        ContentTime=ctime,
        InstanceCreationTime=ctime,
        AccessionNumber=accession,
        StudyID=str(study_no),
        StudyDescription=study.description,
        ReferringPhysicianName=VETS[study_no % len(VETS)],
        InstitutionName=INSTITUTION,
        Modality=series.modality,
        SeriesNumber=series_no,
        SeriesDescription=series.description,
        BodyPartExamined=series.body_part,
        InstanceNumber=inst,
        Manufacturer="VetPACS",
        ManufacturerModelName=f"Demo {series.modality}",
        # Patient module incl. the veterinary attributes (PS3.3 C.7.1.1)
        PatientName=f"{pet.family}^{pet.name}",
        PatientID=pet.patient_id,
        IssuerOfPatientID=ISSUER,
        OtherPatientIDsSequence=Sequence([chip]),
        PatientBirthDate=pet.birth,
        PatientSex=pet.sex,
        PatientAge=_age(pet.birth, date),
        PatientWeight=pet.weight,
        PatientSpeciesDescription=pet.species,
        PatientSpeciesCodeSequence=Sequence([_code(*SPECIES_CODES[pet.species])]),
        PatientBreedDescription=pet.breed,
        PatientBreedCodeSequence=Sequence([]),
        BreedRegistrationSequence=Sequence([]),
        ResponsiblePerson=f"{pet.family}^{pet.given}",
        ResponsiblePersonRole="OWNER",
        ResponsibleOrganization="",
        PatientSexNeutered=pet.neutered,
        AnatomicalOrientationType="QUADRUPED",
        SamplesPerPixel=1,
        PhotometricInterpretation="MONOCHROME2",
        PixelRepresentation=0,
        BurnedInAnnotation="NO",
        LossyImageCompression="00",
    )


def _projection(ds: Dataset, view: _View, rows: int, cols: int, spacing: float, stored: int) -> None:
    """DX / IO projection radiography attributes (detector, positioning, grey scale)."""
    _set(
        ds,
        ImageType=["ORIGINAL", "PRIMARY", ""],
        PresentationIntentType="FOR PRESENTATION",
        Rows=rows,
        Columns=cols,
        BitsAllocated=16,
        BitsStored=stored,
        HighBit=stored - 1,
        ImagerPixelSpacing=[f"{spacing:.4f}"] * 2,
        PixelSpacing=[f"{spacing:.4f}"] * 2,
        DetectorType="SCINTILLATOR",
        PatientOrientation=list(view.orientation),
        ImageLaterality=view.laterality,
        ImageComments=view.label,
        PixelIntensityRelationship="LOG",
        PixelIntensityRelationshipSign=1,
        RescaleIntercept="0",
        RescaleSlope="1",
        RescaleType="US",
        PresentationLUTShape="IDENTITY",
    )


def _dx(ds: Dataset, view: _View, species: str, small: bool, rng: _Rng) -> np.ndarray:
    """Fill DX attributes; return the 14-bit radiograph."""
    big = species in ("Canine", "Equine")
    rows, cols = (200, 256) if small else ((1600, 2000) if big else (1280, 1600))
    spacing = (0.139 if big else 0.1) * ((2000 if big else 1600) / 256 if small else 1.0)
    rows, cols = (cols, rows) if view.portrait else (rows, cols)
    _projection(ds, view, rows, cols, spacing, 14)
    pix = _dx_pixels(rng, rows, cols, view.kind)
    lo, hi = np.percentile(pix[:: max(1, rows // 64), :: max(1, cols // 64)], [2, 99.5])
    _set(
        ds,
        ViewPosition=view.position,
        Laterality=view.laterality if view.laterality in ("R", "L") else "",
        PositionerType="NONE" if species == "Equine" else "COLUMN",
        KVP=f"{rng.uniform(55, 85):.1f}",
        DistanceSourceToDetector="1000",
        AnatomicRegionSequence=Sequence([]),
        WindowCenter=f"{(lo + hi) / 2:.0f}",
        WindowWidth=f"{max(hi - lo, 1):.0f}",
    )
    return pix


def _io(ds: Dataset, view: _View, small: bool, rng: _Rng) -> np.ndarray:
    """Fill intra-oral attributes; return the 12-bit dental radiograph."""
    rows, cols = (96, 128) if small else (700, 1000)
    _projection(ds, view, rows, cols, 0.035 * (1000 / cols), 12)
    region = ("70925003", "Maxilla") if view.kind == "maxilla" else ("91609006", "Mandible")
    _set(
        ds,
        PositionerType="NONE",
        AnatomicRegionSequence=Sequence([_code(*region)]),
        WindowCenter="1600",
        WindowWidth="3200",
    )
    return _io_pixels(rng, rows, cols, view.kind)


def _us(ds: Dataset, view: _View, small: bool, rng: _Rng) -> np.ndarray:
    """Fill ultrasound multi-frame attributes; return the 8-bit cine (grey or RGB)."""
    rgb = view.kind == "doppler"
    rows, cols, frames = (120, 160, 4) if small else (480, 640, 12 if rgb else 20)
    region = _set(
        Dataset(),
        RegionSpatialFormat=1,
        RegionDataType=1,
        RegionFlags=0,
        RegionLocationMinX0=0,
        RegionLocationMinY0=max(2, rows // 30),
        RegionLocationMaxX1=cols - 1,
        RegionLocationMaxY1=rows - 1,
        PhysicalUnitsXDirection=3,
        PhysicalUnitsYDirection=3,  # cm
        PhysicalDeltaX=8.0 / rows,
        PhysicalDeltaY=8.0 / rows,
    )
    _set(
        ds,
        ImageType=["ORIGINAL", "PRIMARY", "ABDOMINAL"],
        PatientOrientation="",
        ImageComments=view.label,
        SamplesPerPixel=3 if rgb else 1,
        PhotometricInterpretation="RGB" if rgb else "MONOCHROME2",
        NumberOfFrames=frames,
        FrameIncrementPointer=0x00181063,
        FrameTime="40.0",
        CineRate=25,  # -> FrameTime
        RecommendedDisplayFrameRate=25,
        Rows=rows,
        Columns=cols,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        BurnedInAnnotation="YES",
        SequenceOfUltrasoundRegions=Sequence([region]),
    )
    if rgb:
        ds.PlanarConfiguration = 0
    return _us_frames(rng, rows, cols, frames, rgb)


def _ct(ds: Dataset, inst: int, small: bool, rng: _Rng, for_uid: str) -> np.ndarray:
    """Fill CT image attributes for axial slice ``inst``; return the 12-bit slice."""
    n, n_slices = (64, 8) if small else (512, 40)
    thick = 40.0 / n_slices  # 40 mm coverage
    z = -(inst - 1) * thick
    _set(
        ds,
        ImageType=["ORIGINAL", "PRIMARY", "AXIAL"],
        FrameOfReferenceUID=for_uid,
        PositionReferenceIndicator="",
        PatientPosition="HFP",
        KVP="120",
        SliceThickness=f"{thick:.1f}",
        ConvolutionKernel="SOFT",
        AcquisitionNumber=1,
        ImagePositionPatient=["-80.0", "-80.0", f"{z:.1f}"],
        ImageOrientationPatient=["1", "0", "0", "0", "1", "0"],
        SliceLocation=f"{z:.1f}",
        Rows=n,
        Columns=n,
        PixelSpacing=[f"{160.0 / n:.6g}"] * 2,
        BitsAllocated=16,
        BitsStored=12,
        HighBit=11,
        RescaleIntercept="-1024",
        RescaleSlope="1",
        RescaleType="HU",
        WindowCenter=["40", "500"],
        WindowWidth=["80", "2500"],
        WindowCenterWidthExplanation=["BRAIN", "BONE"],
    )
    return _ct_slice(rng, n, (inst - 1) / max(n_slices - 1, 1))


def _write(ds: Dataset, out_dir: Path, pixels: np.ndarray) -> Path:
    """Attach pixel data and file meta, write ``<study>/<series>/<sop>.dcm``, return the path."""
    data = pixels.tobytes()
    vr = "OB" if pixels.dtype == np.uint8 else "OW"
    ds.add_new(0x7FE00010, vr, data + b"\x00" * (len(data) % 2))
    ds.file_meta = _set(
        FileMetaDataset(),
        MediaStorageSOPClassUID=ds.SOPClassUID,
        MediaStorageSOPInstanceUID=ds.SOPInstanceUID,
        TransferSyntaxUID=ExplicitVRLittleEndian,
        ImplementationClassUID=IMPLEMENTATION_CLASS_UID,
        ImplementationVersionName=IMPLEMENTATION_VERSION,
    )
    path = out_dir / str(ds.StudyInstanceUID) / str(ds.SeriesInstanceUID)
    path = path / f"{ds.SOPInstanceUID}.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def generate_demo_files(out_dir: Path, *, seed: int = 7, small: bool = False) -> list[Path]:
    """Write the demo studies as DICOM Part 10 files under out_dir and return their paths (sorted).

    8 studies of 6 animals: DX (dogs/horse 2000x1600, cats/rabbit 1600x1280), a US cine
    (20 + 12 frames, 480x640), a 40-slice 512x512 CT head and four 700x1000 intra-oral
    images.  ``small=True`` keeps the same studies with tiny images (DX 256x200, US 4
    frames 120x160, CT 8 x 64x64, IO 96x128) for fast tests.  Existing files are overwritten.
    """
    out_dir = Path(out_dir)
    paths: list[Path] = []
    for si, study in enumerate(_STUDIES, start=1):
        srng = np.random.default_rng([seed, si])
        time = "".join(f"{int(v):02d}" for v in srng.integers((8, 0, 0), (18, 60, 60)))
        accession = f"VPD{seed % 1000:03d}{si:04d}"
        for ki, series in enumerate(study.series, start=1):
            n_inst = (8 if small else 40) if series.modality == "CT" else len(series.views)
            for inst in range(1, n_inst + 1):
                rng = np.random.default_rng([seed, si, ki, inst])
                uids = (
                    _uid(seed, "study", si),
                    _uid(seed, "series", si, ki),
                    _uid(seed, "instance", si, ki, inst),
                )
                ds = _base(study, series, accession, si, ki, uids, inst, time)
                if series.modality == "CT":
                    pix = _ct(ds, inst, small, rng, _uid(seed, "for", si, ki))
                elif series.modality == "US":
                    pix = _us(ds, series.views[inst - 1], small, rng)
                elif series.modality == "IO":
                    pix = _io(ds, series.views[inst - 1], small, rng)
                else:
                    pix = _dx(ds, series.views[inst - 1], study.pet.species, small, rng)
                paths.append(_write(ds, out_dir, pix))
    return sorted(paths)
