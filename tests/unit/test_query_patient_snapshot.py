"""Two studies of one Patient ID that disagree: study-level matching follows each study's own header."""

from __future__ import annotations

from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.ingest import store_instance
from vetpacs.archive.query import Level, Model, Query, run_query


def instance(species: str, owner: str) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "P100002"  # the same ID reused by two clinics for different animals
    ds.PatientName = "SAME^Id"
    ds.PatientSpeciesDescription = species
    ds.ResponsiblePerson = owner
    ds.Modality = "OT"
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_study_level_species_follows_the_study(archive: Archive) -> None:
    origin = Origin(OriginKind.IMPORT, user="test")
    store_instance(archive, instance("Equine", "HORSE^Owner"), origin=origin)
    store_instance(archive, instance("Feline", "CAT^Owner"), origin=origin)

    def studies(**match: str) -> list[Dataset]:
        tags = {"PatientSpeciesDescription": 0x00102201, "ResponsiblePerson": 0x00102297}
        q = Query(
            level=Level.STUDY,
            model=Model.STUDY_ROOT,
            match={tags[k]: v for k, v in match.items()},
            return_tags=[0x00102201, 0x00102297, 0x0020000D],
        )
        return list(run_query(archive, q))

    equine = studies(PatientSpeciesDescription="Equine")
    assert [(d.PatientSpeciesDescription, d.ResponsiblePerson) for d in equine] == [("Equine", "HORSE^Owner")]
    feline = studies(PatientSpeciesDescription="Feline")
    assert [(d.PatientSpeciesDescription, d.ResponsiblePerson) for d in feline] == [("Feline", "CAT^Owner")]
    assert len(studies(ResponsiblePerson="*Owner")) == 2
    # The patient level shows one patient with the newest demographics.
    patients = list(
        run_query(archive, Query(level=Level.PATIENT, model=Model.PATIENT_ROOT, return_tags=[0x00102201]))
    )
    assert [p.PatientSpeciesDescription for p in patients] == ["Feline"]
