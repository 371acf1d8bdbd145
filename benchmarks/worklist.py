"""Worklist C-FIND latency with 2,000 steps for the day, and ingest throughput with and without linking.

Usage: ``.venv/bin/python benchmarks/worklist.py [--steps 2000] [--runs 7] [--instances 300]``

Everything runs against a fresh SQLite index in a temporary folder, with the DICOM listener started
in this process (``DicomService``, the same handlers ``vetpacs serve`` binds) and DCMTK clients
(``findscu -W``, ``storescu``) with ``TCP_NODELAY=1``. Ingest is measured twice on fresh archives:
with the background linker the composition root registers, and with ``archive.study_hooks`` emptied.
Each figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import text

from vetpacs.app import build_archive
from vetpacs.archive.context import Archive
from vetpacs.auth.roles import SYSTEM
from vetpacs.config import Settings
from vetpacs.dicom.server import DicomService
from vetpacs.orders.catalog import create_station, seed_catalog
from vetpacs.orders.linking import LINKER
from vetpacs.orders.schemas import OrderCreate, ScheduleRequest, StationCreate
from vetpacs.orders.service import create_order
from vetpacs.patients.schemas import AnimalCreate, OwnerCreate, OwnerLink
from vetpacs.patients.service import create_animal, create_owner

ENV = {**os.environ, "TCP_NODELAY": "1"}
MWL_KEYS = [
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientWeight",
    "PatientSpeciesDescription", "PatientSpeciesCodeSequence", "PatientBreedDescription",
    "PatientSexNeutered", "ResponsiblePerson", "ResponsiblePersonRole", "ResponsibleOrganization",
    "OtherPatientIDsSequence", "StudyInstanceUID", "AccessionNumber", "RequestedProcedureID",
    "RequestedProcedureDescription", "RequestedProcedureCodeSequence", "RequestedProcedurePriority",
    "RequestingPhysician", "BodyPartExamined",
    "ScheduledProcedureStepSequence[0].Modality",
    "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription",
    "ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def archive_in(folder: Path) -> tuple[Archive, Settings]:
    settings = Settings(data_dir=folder, database_url=f"sqlite:///{folder}/index.db", dicom_port=free_port())
    return build_archive(settings), settings


def book_day(archive: Archive, steps: int, day: datetime) -> list[dict[str, str]]:
    """``steps`` orders for ``day`` on 20 stations, 5 minutes apart from 06:00; their accessions."""
    seed_catalog(archive, actor=SYSTEM)
    stations = [
        create_station(
            archive,
            StationCreate(
                name=f"Bench {i}", ae_title=f"BENCH{i:02d}", station_name=f"B{i:02d}", modality="DX"
            ),
            actor=SYSTEM,
        )
        for i in range(20)
    ]
    booked = []
    for n in range(steps):
        owner = create_owner(
            archive, OwnerCreate(family_name=f"Owner{n % 500}", given_name="Sam"), actor=SYSTEM
        )
        animal = create_animal(
            archive,
            AnimalCreate(
                name=f"Pet{n}", species_code="448771007", microchip=f"9851120{n:08d}",
                owners=[OwnerLink(owner_id=owner.id)], weight_kg=12.5, sex="F", neuter_status="ALTERED",
            ),
            actor=SYSTEM,
        )  # fmt: skip
        station = stations[n % 20]
        start = day.replace(hour=6) + timedelta(minutes=5 * (n // 20))
        order = create_order(
            archive,
            OrderCreate(
                animal_id=animal.id,
                procedure_codes=["DX-THX2"],
                schedule=ScheduleRequest(station_id=station.id, start=start, duration_minutes=5),
            ),
            actor=SYSTEM,
        )
        booked.append({"accession": order.accession_number, "study": order.study_instance_uid,
                       "patient_id": animal.patient_id, "name": f"OWNER{n % 500}^Pet{n}"})  # fmt: skip
    return booked


def findscu_w(port: int, keys: list[str], out: Path | None) -> tuple[float, int]:
    """Wall time of one ``findscu -W`` and its answer count (``out``: answers written there with -X;
    None: not written, counted from the ``-v`` log)."""
    args = ["findscu", "-W", "-aet", "BENCH00", "-aec", "VETPACS"]
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        args += ["-X", "-od", str(out)]
    else:
        args.append("-v")
    for k in keys:
        args += ["-k", k]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*args, "127.0.0.1", str(port)], env=ENV, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    if out is None:
        return elapsed, (proc.stdout + proc.stderr).count("Received Find Response") - 1  # the final one
    return elapsed, len(list(out.glob("rsp*.dcm")))


def small_image(path: Path, study: str, series: str, patient: dict[str, str], accession: str) -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.Modality = "DX"
    ds.PatientName = patient["name"]
    ds.PatientID = patient["patient_id"]
    ds.PatientSpeciesDescription = "Canine"
    ds.AccessionNumber = accession
    ds.StudyDate = datetime.now().strftime("%Y%m%d")
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(64 * 64 * 2)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)


def make_instances(folder: Path, booked: list[dict[str, str]], n: int, per_study: int) -> list[Path]:
    """``n`` instances, ``per_study`` per study (two series each); half the studies have an order."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for s in range(n // per_study):
        if s % 2 == 0 and s // 2 < len(booked):
            b = booked[s // 2]
            study, patient, accession = b["study"], b, b["accession"]
        else:
            study, patient, accession = generate_uid(), {"name": f"STRAY^Dog{s}", "patient_id": f"X{s}"}, ""
        series = [generate_uid(), generate_uid()]
        for i in range(per_study):
            path = folder / f"s{s:04d}_{i:03d}.dcm"
            small_image(path, study, series[i % 2], patient, accession)
            files.append(path)
    return files


def ingest_once(
    root: Path, booked_steps: int, files_of: int, per_study: int, linking: bool
) -> tuple[float, float]:
    """(instances/s acknowledged by storescu, instances/s until linking has finished too)."""
    folder = Path(tempfile.mkdtemp(dir=root))
    archive, settings = archive_in(folder)
    booked = book_day(archive, booked_steps, datetime.now()) if booked_steps else []
    if not linking:
        archive.study_hooks.clear()
    files = make_instances(folder / "in", booked, files_of, per_study)
    service = DicomService(archive, settings)
    server = service.start(host="127.0.0.1", port=settings.dicom_port)
    try:
        port = server.server_address[1]
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["storescu", "-aet", "BENCHSCU", "-aec", "VETPACS", "127.0.0.1", str(port), *map(str, files)],
            env=ENV, capture_output=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stderr
        LINKER.flush(timeout=60)
        settled = time.perf_counter() - t0  # until the last study is linked or queued
    finally:
        service.stop(grace=5)
    with archive.engine.connect() as conn:
        stored = conn.execute(text("SELECT COUNT(*) FROM instances")).scalar_one()
        linked = conn.execute(text("SELECT COUNT(*) FROM order_studies")).scalar_one()
        queued = conn.execute(text("SELECT COUNT(*) FROM reconciliation_items")).scalar_one()
    assert stored == len(files), (stored, len(files))
    if linking:
        assert linked + queued == len(files) // per_study, (linked, queued)
    archive.engine.dispose()
    return len(files) / elapsed, len(files) / settled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--skip-worklist", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vetpacs-bench-wl-"))
    try:
        if not args.skip_worklist:
            archive, settings = archive_in(root / "wl")
            t0 = time.perf_counter()
            book_day(archive, args.steps, datetime.now())
            print(f"booked {args.steps} steps in {time.perf_counter() - t0:.1f} s")
            service = DicomService(archive, settings)
            server = service.start(host="127.0.0.1", port=settings.dicom_port)
            port = server.server_address[1]
            day = datetime.now().strftime("%Y%m%d")
            try:
                date_key = f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={day}"
                station_key = "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=BENCH07"
                for label, extra in (
                    ("whole day (all stations)", [date_key]),
                    ("one station's day", [date_key, station_key]),
                ):
                    keys = [k for k in MWL_KEYS if not k.endswith("ScheduledStationAETitle")] + extra
                    if "BENCH07" not in extra[-1]:
                        keys.append("ScheduledProcedureStepSequence[0].ScheduledStationAETitle")
                    findscu_w(port, keys, root / "warm")
                    for out, how in ((root / "out", "answers written with -X"),):
                        times, count = [], 0
                        for _ in range(args.runs):
                            elapsed, count = findscu_w(port, keys, out)
                            times.append(elapsed)
                        median = statistics.median(times) * 1000
                        print(
                            f"findscu -W {label}: {count} answers, median {median:.0f} ms "
                            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}; {how})"
                        )
            finally:
                service.stop(grace=5)
                archive.engine.dispose()
        for per_study, label in (
            (10, "10 instances per study (2 series)"),
            (1, "1 instance per study (worst case)"),
        ):
            rates: dict[bool, list[float]] = {True: [], False: []}
            settled: list[float] = []
            for _ in range(args.runs):
                for linking in (False, True):
                    acked, done = ingest_once(root, 150, args.instances, per_study, linking)
                    rates[linking].append(acked)
                    if linking:
                        settled.append(done)
            off, on = statistics.median(rates[False]), statistics.median(rates[True])
            end = statistics.median(settled)
            print(
                f"ingest {args.instances} small instances, {label}: without linking {off:.0f}/s, "
                f"with linking {on:.0f}/s ({(on - off) / off * 100:+.1f}%); "
                f"linking finished too: {end:.0f}/s ({(end - off) / off * 100:+.1f}%)"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
