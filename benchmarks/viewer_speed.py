"""Viewer speed benchmark (issue 6, item 8): time to first image of a 2,500 x 3,000 16-bit DX
radiograph, and the scrolling rate of a 300-slice CT (512 x 512) once its stack is loaded.

Generates both (pydicom + numpy, structured content: a body outline, organs, bones, noise), imports
them into a fresh ``vetpacs serve`` (SQLite, temporary folder), signs in to the viewer in headless
Debian chromium (Playwright, ``/usr/bin/chromium``, the flags of tests/e2e/e2e_support.py) and
measures:

- **first image**: ``body[data-first-image-ms]`` (set by the viewer on its first rendered image,
  milliseconds since navigation start), over ``--runs`` fresh navigations to the DX study (the
  script bundle is in the browser cache after the first, as for a user; the first run is reported
  apart);
- **CT scrolling**: after every slice is in the viewer's cache (the viewer prefetches the stack),
  ArrowDown key events are dispatched one after another as fast as the viewport renders: each next
  key is sent when ``CORNERSTONE_IMAGE_RENDERED`` of the previous one fired on the viewport element;
  frames per second = rendered images / elapsed time. Also measured cold (right after opening, before
  the prefetch has finished), for information.

Run: ``.venv/bin/python benchmarks/viewer_speed.py [--runs 7]`` (the front end must be built).
Results: printed; copy them to benchmarks/RESULTS.md ("Viewer speed") and docs/viewer.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from vetpacs.db.engine import make_engine, migrate

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/e2e/e2e_support.py
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DX_SOP = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dataset(path: Path, sop_class: str, study: str, series: str, modality: str) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.Modality = modality
    ds.PatientName = "Bench^Rex"
    ds.PatientID = "BENCH-1"
    ds.PatientSpeciesDescription = "Canine"
    ds.PatientBreedDescription = "Labrador Retriever"
    ds.ResponsiblePerson = "Bench^Owner"
    ds.AnatomicalOrientationType = "QUADRUPED"
    ds.StudyDate = "20261129"
    ds.StudyTime = "120000"
    ds.AccessionNumber = f"BENCH{modality}"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    return ds


def make_dx(out: Path, rng: np.random.Generator) -> Path:
    """A 2,500 x 3,000 (columns x rows) 16-bit lateral thorax-like radiograph."""
    rows, cols = 3000, 2500
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    img = 9000 + 6000 * (x / cols)  # exposure gradient
    body = ((x - cols / 2) / (0.42 * cols)) ** 2 + ((y - rows / 2) / (0.4 * rows)) ** 2 < 1
    img += body * 22000
    heart = ((x - 0.55 * cols) / (0.16 * cols)) ** 2 + ((y - 0.55 * rows) / (0.14 * rows)) ** 2 < 1
    img += heart * 9000
    for k in range(13):  # a spine of vertebrae
        cx, cy = 0.2 * cols + k * 0.05 * cols, 0.28 * rows + k * 0.004 * rows
        img += (((x - cx) / (0.022 * cols)) ** 2 + ((y - cy) / (0.018 * rows)) ** 2 < 1) * 16000
    img += rng.normal(0, 600, (rows, cols)).astype(np.float32)
    pixels = np.clip(img, 0, 65535).astype(np.uint16)
    path = out / "dx.dcm"
    ds = _dataset(path, DX_SOP, generate_uid(), generate_uid(), "DX")
    ds.StudyDescription = "Bench thorax DX"
    ds.SeriesDescription = "Thorax"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "RL"
    ds.PatientOrientation = ["CD", "V"]
    ds.ImageLaterality = "U"
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 0
    ds.PixelSpacing = ["0.1390", "0.1390"]
    ds.ImagerPixelSpacing = ["0.1390", "0.1390"]
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.WindowCenter, ds.WindowWidth = "30000", "40000"
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def make_ct(out: Path, rng: np.random.Generator, slices: int = 300) -> list[Path]:
    """A 300-slice 512 x 512 CT of a trunk-like phantom (HU via Rescale Intercept -1024)."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    n = 512
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    paths = []
    for i in range(slices):
        t = i / (slices - 1)
        hu = np.full((n, n), -1000, np.float32)
        a, b = 200 + 30 * np.sin(np.pi * t), 150 + 20 * np.sin(np.pi * t)
        hu[((x - 256) / a) ** 2 + ((y - 270) / b) ** 2 < 1] = 40  # soft tissue
        lung = 60 + 30 * np.sin(np.pi * t)
        for cx in (190, 322):
            hu[((x - cx) / lung) ** 2 + ((y - 260) / (lung * 1.3)) ** 2 < 1] = -800
        hu[((x - 256) / 22) ** 2 + ((y - 150) / 20) ** 2 < 1] = 900  # vertebra
        hu += rng.normal(0, 12, (n, n)).astype(np.float32)
        stored = np.clip(hu + 1024, 0, 4095).astype(np.uint16)
        path = out / f"ct{i:03d}.dcm"
        ds = _dataset(path, CT_SOP, study, series, "CT")
        ds.StudyDescription = "Bench CT thorax"
        ds.SeriesDescription = "Thorax axial"
        ds.BodyPartExamined = "CHEST"
        ds.FrameOfReferenceUID = frame
        ds.InstanceNumber = i + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = ["-160.0", "-160.0", f"{-i * 1.0:.1f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceThickness = "1.0"
        ds.PixelSpacing = ["0.625", "0.625"]
        ds.Rows = ds.Columns = n
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.PixelData = stored.tobytes()
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


class Server:
    """A fresh ``vetpacs serve`` on free loopback ports (SQLite in a temporary folder)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        url = f"sqlite:///{work / 'index.sqlite'}"
        migrate(make_engine(url))
        self.env = dict(os.environ)
        self.env.update(
            VETPACS_DATA_DIR=str(work / "data"),
            VETPACS_DATABASE_URL=url,
            VETPACS_HTTP_PORT=str(self.port),
            VETPACS_HTTP_HOST="127.0.0.1",
            VETPACS_DICOM_PORT="0",
            VETPACS_HL7_PORT="0",
            VETPACS_LOG_LEVEL="WARNING",
        )
        self.cli = [sys.executable, "-m", "vetpacs.cli.main"]
        self.password = self.run("user", "add", "bench", "--role", "admin", "--generate-password").strip()
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> str:
        return subprocess.run(
            [*self.cli, *args], env=self.env, capture_output=True, text=True, check=True
        ).stdout

    def start(self) -> None:
        log = open(self.work / "server.log", "wb")  # noqa: SIM115 - the child writes to it
        self.proc = subprocess.Popen([*self.cli, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while b"VETPACS_READY" not in (self.work / "server.log").read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((self.work / "server.log").read_text(errors="replace"))
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SCROLL_JS = """async (count) => {
    const element = document.querySelector('[data-viewport="0"]');
    const rendered = () => new Promise((resolve) =>
        element.addEventListener('CORNERSTONE_IMAGE_RENDERED', resolve, { once: true }));
    const start = performance.now();
    let frames = 0;
    for (let i = 0; i < count; i++) {
        const done = rendered();
        document.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true }));
        await done;
        frames++;
    }
    const ms = performance.now() - start;
    return { frames, ms, index: element.parentElement.querySelector('.overlay').dataset.index };
}"""


def scroll_fps(page: Any, frames: int) -> tuple[float, str]:
    page.evaluate("() => window.vetpacs.scrollTo(0)")
    page.wait_for_function("document.querySelector('#viewports .overlay')?.dataset.index === '1'")
    result = page.evaluate(SCROLL_JS, frames)
    return result["frames"] / (result["ms"] / 1000), str(result["index"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="first-image navigations (default 7)")
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--query", default="", help="extra viewer URL parameters, e.g. render=cpu")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        raise SystemExit("build the front end first: cd frontend && npm run build")
    from playwright.sync_api import sync_playwright

    extra = f"&{args.query}" if args.query else ""
    work = Path(tempfile.mkdtemp(prefix="vetpacs-viewer-bench-"))
    files = work / "files"
    files.mkdir()
    rng = np.random.default_rng(11)
    t0 = time.perf_counter()
    dx = make_dx(files, rng)
    ct = make_ct(files, rng, args.slices)
    print(
        f"generated DX 2500x3000 16-bit ({dx.stat().st_size / 1e6:.1f} MB) and CT {len(ct)} x 512x512 "
        f"in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    server = Server(work)
    server.run("import", str(files))
    server.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{server.url}/viewer/login")
            page.fill("#username", "bench")
            page.fill("#password", server.password)
            page.click("#submit")
            page.wait_for_load_state("networkidle")

            first: list[float] = []
            for _ in range(args.runs):
                page.goto(f"{server.url}/viewer/?accession=BENCHDX{extra}")
                page.wait_for_selector("body[data-first-image-ms]", state="attached")
                first.append(float(page.get_attribute("body", "data-first-image-ms") or "nan"))
            mode = page.get_attribute("body", "data-render")
            print(
                f"drawing path: {mode} (WebGL renderer: {page.get_attribute('body', 'data-webgl') or 'none'})"
            )
            cold, warm = first[0], first[1:]
            print(
                f"DX first image: first run {cold:.0f} ms (empty browser cache); "
                f"then median {statistics.median(warm):.0f} ms (min {min(warm):.0f}, max {max(warm):.0f}, "
                f"n={len(warm)})",
                flush=True,
            )

            page.goto(f"{server.url}/viewer/?accession=BENCHCT{extra}")
            page.wait_for_selector("body[data-first-image-ms]", state="attached")
            ct_first = float(page.get_attribute("body", "data-first-image-ms") or "nan")
            page.click("#viewports .viewport", position={"x": 40, "y": 120})
            fps_cold, _ = scroll_fps(page, 60)
            t_load = time.perf_counter()
            page.wait_for_function(
                "() => { const s = window.vetpacs.stackStatus(); "
                "return s.total > 0 && s.cached === s.total; }",
                polling=200,
            )
            loaded_s = time.perf_counter() - t_load
            rates = []
            for _ in range(3):
                fps, index = scroll_fps(page, len(ct) - 1)
                assert index == str(len(ct)), index
                rates.append(fps)
            print(
                f"CT {len(ct)} slices: first image {ct_first:.0f} ms; whole stack in the cache "
                f"{loaded_s:.1f} s after the first 60 scrolled; scrolling cold {fps_cold:.1f} fps; "
                f"loaded: median {statistics.median(rates):.1f} fps "
                f"(runs {', '.join(f'{r:.1f}' for r in rates)})",
                flush=True,
            )
            context.close()
            browser.close()
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
