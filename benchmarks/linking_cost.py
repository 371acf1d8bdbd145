"""What auto-linking costs ingest: many small single-instance studies, linking on and off, interleaved.

Every instance is a study of its own and no study has an order, so each one is a new study for the
linker and lands in the reconciliation queue: the worst case for linking (the issue allows it at
most 10 % of ingest throughput). Each run starts a fresh ``vetpacs serve`` (fresh SQLite index and
blob folder) with ``VETPACS_AUTO_LINK=true`` or ``false``, sends the studies with ``--streams``
parallel ``storescu`` processes (one association each) and times the wall clock from the first
association to the last answer. With linking on it also times until the last study is in the
queue, and reads the server's CPU time from /proc. The two configurations alternate (A B A B ...)
so that other work on the machine hits both alike; the spread of the per-pair costs says how noisy
the machine was.

    .venv/bin/python benchmarks/linking_cost.py --studies 400 --reps 7
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX = "1.2.840.10008.5.1.4.1.1.1.1"
AET = "VETPACS"
NAMES = ["Rex", "Bella", "Luna", "Max", "Milo", "Coco", "Nala", "Oscar", "Daisy", "Simba"]
OWNERS = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILSON", "EVANS", "THOMAS", "ROBERTS"]
SPECIES = ["Canine", "Feline", "Equine", "Rabbit"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_studies(folder: Path, n: int, side: int, seed: int) -> list[Path]:
    """``n`` single-instance DX studies of ``side`` x ``side`` 8-bit pixels, random animals."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    today = datetime.now().strftime("%Y%m%d")
    for i in range(n):
        ds = Dataset()
        ds.SOPClassUID = DX
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.Modality = "DX"
        ds.StudyDate = today
        ds.StudyTime = f"{8 + i % 10:02d}{i % 60:02d}00"
        ds.AccessionNumber = f"BX{i:06d}"
        ds.PatientName = f"{rng.choice(OWNERS)}^{rng.choice(NAMES)}"
        ds.PatientID = f"PID{rng.randrange(10**6):06d}"
        ds.PatientSpeciesDescription = rng.choice(SPECIES)
        ds.ResponsiblePerson = ds.PatientName.family_name
        ds.ResponsiblePersonRole = "OWNER"
        ds.InstanceNumber = "1"
        ds.Rows = ds.Columns = side
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelRepresentation = 0
        ds.PixelData = rng.randbytes(side * side)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = DX
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"s{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its finished threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queued(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM reconciliation_items").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def one_run(files: list[Path], streams: int, link: bool, work: Path) -> dict[str, float]:
    """Start a fresh server, send ``files`` over ``streams`` associations, stop it; the figures."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    db = work / "index.sqlite"
    port = free_port()
    env = dict(
        os.environ,
        VETPACS_DATA_DIR=str(work / "data"),
        VETPACS_DATABASE_URL=f"sqlite:///{db}",
        VETPACS_DICOM_PORT=str(port),
        VETPACS_DICOM_HOST="127.0.0.1",
        VETPACS_HTTP_PORT=str(free_port()),
        VETPACS_HTTP_HOST="127.0.0.1",
        VETPACS_HL7_PORT="0",
        VETPACS_AE_TITLE=AET,
        VETPACS_AUTO_LINK="true" if link else "false",
    )
    log_path = work / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "vetpacs.cli.main", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while "VETPACS_READY" not in log_path.read_text(errors="replace"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.05)
        time.sleep(0.5)  # let the start-up sweep and the dispatcher settle
        chunks = [files[i::streams] for i in range(streams)]
        cpu0 = cpu_seconds(server.pid)
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                ["storescu", "-aet", "BENCHSCU", "-aec", AET, "127.0.0.1", str(port), *map(str, chunk)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for chunk in chunks
        ]
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"storescu failed: {err.decode(errors='replace')[-2000:]}")
        t1 = time.perf_counter()
        cpu1 = cpu_seconds(server.pid)
        t2 = t1
        if link:
            deadline = time.monotonic() + 120
            while queued(db) < len(files):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {queued(db)} of {len(files)} studies were queued")
                time.sleep(0.01)
            t2 = time.perf_counter()
        cpu2 = cpu_seconds(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    n = len(files)
    return {
        "inst_per_s": n / (t1 - t0),
        "linked_per_s": n / (t2 - t0),
        "cpu_ms_per_inst": (cpu1 - cpu0) * 1000 / n,
        "cpu_ms_per_inst_all": (cpu2 - cpu0) * 1000 / n,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=400, help="single-instance studies per run")
    ap.add_argument("--reps", type=int, default=5, help="pairs of runs (linking on, off)")
    ap.add_argument("--streams", type=int, default=4, help="parallel storescu associations")
    ap.add_argument("--side", type=int, default=64, help="image rows and columns (8-bit)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if shutil.which("storescu") is None:
        print("storescu (DCMTK) is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vetpacs-linkcost-") as tmp:
        root = Path(tmp)
        files = make_studies(root / "studies", args.studies, args.side, args.seed)
        size = files[0].stat().st_size
        print(f"{args.studies} single-instance studies of {size} bytes, {args.streams} associations, "
              f"{args.reps} pairs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")  # fmt: skip
        runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for rep in range(args.reps):
            order = (True, False) if rep % 2 == 0 else (False, True)  # A B, B A: no position bias
            for link in order:
                r = one_run(files, args.streams, link, root / "run")
                runs[link].append(r)
                print(
                    f"  pair {rep + 1} linking {'on ' if link else 'off'}: {r['inst_per_s']:7.1f} inst/s"
                    + (f", {r['linked_per_s']:7.1f}/s until queued" if link else "")
                    + f", server CPU {r['cpu_ms_per_inst']:.2f} ms/inst"
                    + (f" ({r['cpu_ms_per_inst_all']:.2f} with linking done)" if link else ""),
                    flush=True,
                )
    on = [r["inst_per_s"] for r in runs[True]]
    off = [r["inst_per_s"] for r in runs[False]]
    until = [r["linked_per_s"] for r in runs[True]]
    pair_costs = [100 * (1 - a / b) for a, b in zip(on, off, strict=True)]
    med_on, med_off, med_until = statistics.median(on), statistics.median(off), statistics.median(until)
    cpu_on = statistics.median(r["cpu_ms_per_inst_all"] for r in runs[True])
    cpu_off = statistics.median(r["cpu_ms_per_inst"] for r in runs[False])
    print()
    print(f"linking off: median {med_off:.1f} inst/s (min {min(off):.1f}, max {max(off):.1f})")
    print(f"linking on:  median {med_on:.1f} inst/s (min {min(on):.1f}, max {max(on):.1f})")
    print(f"linking on, until every study is queued: median {med_until:.1f}/s")
    print(f"cost of linking (medians): {100 * (1 - med_on / med_off):.1f} % "
          f"({100 * (1 - med_until / med_off):.1f} % until the last study is queued)")  # fmt: skip
    print(f"per-pair cost: median {statistics.median(pair_costs):.1f} %, "
          f"from {min(pair_costs):.1f} to {max(pair_costs):.1f} %")  # fmt: skip
    print(f"server CPU per instance: {cpu_off:.2f} ms off, {cpu_on:.2f} ms on (linking included): "
          f"+{100 * (cpu_on / cpu_off - 1):.1f} %")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
