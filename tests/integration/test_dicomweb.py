"""DICOMweb against the running server with dicomweb-client (and httpx for raw bytes): QIDO-RS,
WADO-RS (instances, metadata, frames, bulk data, rendered, thumbnails), STOW-RS and WADO-URI."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from dicom_support import module_server  # type: ignore[import-not-found]
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from conftest import LiveServer  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration

CANINE = ("1.2.826.0.1.3680043.8.498.1", "Canine")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, demo_files: list[Path]) -> Iterator[LiveServer]:
    """A server holding the small demo studies (imported through the one ingest path)."""
    with module_server(tmp_path_factory.mktemp("dicomweb")) as srv:
        srv.cli("import", *[str(p) for p in demo_files])
        yield srv


@pytest.fixture(scope="module")
def client(web: LiveServer) -> DICOMwebClient:
    return DICOMwebClient(url=f"{web.http_url}/dicom-web", headers=web.auth_headers())


@pytest.fixture(scope="module")
def http(web: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{web.http_url}/dicom-web", headers=web.auth_headers(), timeout=60) as c:
        yield c


def _by_file(demo_files: list[Path]) -> dict[str, Dataset]:
    return {str(p): dcmread(p, stop_before_pixels=True) for p in demo_files}


def _first(demo_files: list[Path], modality: str) -> tuple[Path, Dataset]:
    for path in demo_files:
        ds = dcmread(path, stop_before_pixels=True)
        if ds.Modality == modality:
            return path, ds
    raise AssertionError(f"no {modality} in the demo")


def _value(item: dict, tag: str) -> object:
    entry = item.get(tag, {})
    values = entry.get("Value") or [None]
    v = values[0]
    return v.get("Alphabetic") if isinstance(v, dict) and "Alphabetic" in v else v


# ----------------------------------------------------------------------------- QIDO-RS


def test_qido_all_studies_carry_default_and_veterinary_attributes(
    client: DICOMwebClient, demo_files: list[Path]
) -> None:
    expected = {dcmread(p, stop_before_pixels=True).StudyInstanceUID for p in demo_files}
    studies = client.search_for_studies()
    assert {_value(s, "0020000D") for s in studies} == expected
    max_study = next(s for s in studies if str(_value(s, "00100010")).endswith("^Max"))
    assert _value(max_study, "00102201") == "Canine"
    assert _value(max_study, "00102297") == "BAKER^Emma"
    assert _value(max_study, "00102203") == "ALTERED"
    assert _value(max_study, "00201208") >= 1
    assert "DX" in max_study["00080061"]["Value"]
    assert str(_value(max_study, "00081190")).endswith(f"/dicom-web/studies/{_value(max_study, '0020000D')}")


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({"PatientName": "BAKER*"}, {"BAKER^Max", "BAKER^Luna"}),
        ({"00102201": "Canine*"}, {"BAKER^Max", "KOWALSKI^Ruby"}),
        ({"PatientSpeciesDescription": "Equine"}, {"FISCHER^Thunder"}),
        ({"ResponsiblePerson": "ROSSI*"}, {"ROSSI^Kiwi"}),
        ({"PatientBreedDescription": "Maine*"}, {"NIELSEN^Simba"}),
        ({"PatientName": "?ISCHER^*"}, {"FISCHER^Thunder"}),
    ],
)
def test_qido_matching_on_veterinary_keys(client: DICOMwebClient, filters: dict, names: set[str]) -> None:
    # dicomweb-client percent-encodes * and ? (%2A, %3F); the server decodes before matching
    studies = client.search_for_studies(search_filters=filters)
    assert {_value(s, "00100010") for s in studies} == names


def test_qido_date_range_limit_offset_and_fuzzy(client: DICOMwebClient) -> None:
    everything = client.search_for_studies()
    in_range = client.search_for_studies(search_filters={"StudyDate": "20250101-20250131"})
    assert in_range and all("20250101" <= _value(s, "00080020") <= "20250131" for s in in_range)
    assert len(in_range) < len(everything)
    page1 = client.search_for_studies(limit=2)
    page2 = client.search_for_studies(limit=2, offset=2)
    assert len(page1) == 2 and len(page2) == 2
    assert {_value(s, "0020000D") for s in page1}.isdisjoint({_value(s, "0020000D") for s in page2})
    assert client.search_for_studies(search_filters={"PatientName": "baker*"}) == []
    fuzzy = client.search_for_studies(search_filters={"PatientName": "baker*"}, fuzzymatching=True)
    assert {_value(s, "00100010") for s in fuzzy} == {"BAKER^Max", "BAKER^Luna"}


def test_qido_uid_list_includefield_and_series_instances(
    client: DICOMwebClient, demo_files: list[Path]
) -> None:
    _, ct = _first(demo_files, "CT")
    _, dx = _first(demo_files, "DX")
    both = client.search_for_studies(
        search_filters={"StudyInstanceUID": f"{ct.StudyInstanceUID},{dx.StudyInstanceUID}"}
    )
    assert {_value(s, "0020000D") for s in both} == {ct.StudyInstanceUID, dx.StudyInstanceUID}
    series = client.search_for_series(study_instance_uid=ct.StudyInstanceUID, fields=["BodyPartExamined"])
    assert [_value(s, "00080060") for s in series] == ["CT"]
    instances = client.search_for_instances(
        study_instance_uid=ct.StudyInstanceUID,
        series_instance_uid=ct.SeriesInstanceUID,
        fields=["SliceLocation"],
    )
    n_ct = sum(
        1 for p in demo_files if dcmread(p, stop_before_pixels=True).SeriesInstanceUID == ct.SeriesInstanceUID
    )
    assert len(instances) == n_ct
    assert all("00201041" in i for i in instances)
    all_fields = client.search_for_instances(
        study_instance_uid=dx.StudyInstanceUID,
        fields=["all"],
        search_filters={"SOPInstanceUID": dx.SOPInstanceUID},
    )
    assert (
        len(all_fields) == 1 and _value(all_fields[0], "00280030") is not None
    )  # Pixel Spacing from the header


def test_qido_bad_parameters_are_400_problems(http: httpx.Client) -> None:
    for params in ({"NoSuchKeyword": "x"}, {"limit": "-1"}, {"limit": "ten"}, {"fuzzymatching": "maybe"}):
        r = http.get("/studies", params=params, headers={"Accept": "application/dicom+json"})
        assert r.status_code == 400, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "detail" in r.json()


# ----------------------------------------------------------------------------- WADO-RS


def test_wado_study_as_stored_byte_for_byte(http: httpx.Client, demo_files: list[Path]) -> None:
    _, ct = _first(demo_files, "CT")
    originals = {
        dcmread(p, stop_before_pixels=True).SOPInstanceUID: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in demo_files
        if dcmread(p, stop_before_pixels=True).StudyInstanceUID == ct.StudyInstanceUID
    }
    r = http.get(
        f"/studies/{ct.StudyInstanceUID}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
    )
    assert r.status_code == 200
    parts = _multipart(r)
    assert len(parts) == len(originals)
    got = {}
    for headers, body in parts:
        assert headers["content-type"].startswith("application/dicom")
        got[dcmread(io.BytesIO(body), stop_before_pixels=True).SOPInstanceUID] = hashlib.sha256(
            body
        ).hexdigest()
    assert got == originals


def test_wado_with_dicomweb_client_series_and_instance(
    client: DICOMwebClient, demo_files: list[Path]
) -> None:
    path, us = _first(demo_files, "US")
    series = client.retrieve_series(
        us.StudyInstanceUID, us.SeriesInstanceUID, media_types=(("application/dicom", "*"),)
    )
    assert us.SOPInstanceUID in {d.SOPInstanceUID for d in series}
    inst = client.retrieve_instance(us.StudyInstanceUID, us.SeriesInstanceUID, us.SOPInstanceUID)
    assert inst.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(inst.pixel_array, dcmread(path).pixel_array)


def test_metadata_has_bulkdata_uris_and_frames_decode(client: DICOMwebClient, demo_files: list[Path]) -> None:
    path, ct = _first(demo_files, "CT")
    meta = client.retrieve_study_metadata(ct.StudyInstanceUID)
    mine = next(m for m in meta if _value(m, "00080018") == ct.SOPInstanceUID)
    assert _value(mine, "00102201") == ct.PatientSpeciesDescription  # vet keys in the header
    assert mine["7FE00010"]["BulkDataURI"].endswith(f"/instances/{ct.SOPInstanceUID}/frames")
    assert _value(mine, "00083002") == ct.file_meta.TransferSyntaxUID
    frames = client.retrieve_instance_frames(
        ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID, frame_numbers=[1]
    )
    full = dcmread(path)
    assert frames[0] == full.PixelData


def test_multiframe_frames_list_and_range_errors(http: httpx.Client, demo_files: list[Path]) -> None:
    path, us = _first(demo_files, "US")
    full = dcmread(path)
    n = int(full.NumberOfFrames)
    assert n >= 3
    url = f"/studies/{us.StudyInstanceUID}/series/{us.SeriesInstanceUID}/instances/{us.SOPInstanceUID}/frames"
    r = http.get(f"{url}/1,3", headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    assert r.status_code == 200
    parts = _multipart(r)
    arr = full.pixel_array
    assert [p[1] for p in parts] == [arr[0].tobytes(), arr[2].tobytes()]
    assert http.get(f"{url}/{n + 1}").status_code == 404
    assert http.get(f"{url}/0").status_code == 400
    assert http.get(f"{url}/x").status_code == 400


def test_rendered_jpeg_png_gif_with_window_and_viewport(http: httpx.Client, demo_files: list[Path]) -> None:
    _, dx = _first(demo_files, "DX")
    url = f"/studies/{dx.StudyInstanceUID}/series/{dx.SeriesInstanceUID}/instances/{dx.SOPInstanceUID}"
    for media, magic in (("image/jpeg", b"\xff\xd8"), ("image/png", b"\x89PNG"), ("image/gif", b"GIF8")):
        r = http.get(f"{url}/rendered", headers={"Accept": media})
        assert r.status_code == 200 and r.headers["content-type"] == media and r.content.startswith(magic)
    small = http.get(
        f"{url}/frames/1/rendered", params={"viewport": "64,64"}, headers={"Accept": "image/png"}
    )
    img = Image.open(io.BytesIO(small.content))
    assert max(img.size) == 64
    a = http.get(f"{url}/rendered", params={"window": "100,50"}, headers={"Accept": "image/png"}).content
    b = http.get(f"{url}/rendered", params={"window": "2000,4000"}, headers={"Accept": "image/png"}).content
    assert a != b
    assert http.get(f"{url}/rendered", params={"window": "1,-5"}).status_code == 400
    assert http.get(f"{url}/rendered", headers={"Accept": "application/pdf"}).status_code == 406


def test_thumbnails_of_study_series_instance(http: httpx.Client, demo_files: list[Path]) -> None:
    _, us = _first(demo_files, "US")
    base = f"/studies/{us.StudyInstanceUID}"
    for path in (
        f"{base}/thumbnail",
        f"{base}/series/{us.SeriesInstanceUID}/thumbnail",
        f"{base}/series/{us.SeriesInstanceUID}/instances/{us.SOPInstanceUID}/thumbnail",
    ):
        r = http.get(path, headers={"Accept": "image/jpeg"})
        assert r.status_code == 200, (path, r.text)
        assert max(Image.open(io.BytesIO(r.content)).size) <= 128


def test_unknown_uids_are_404(http: httpx.Client) -> None:
    uid = generate_uid()
    assert http.get(f"/studies/{uid}").status_code == 404
    assert http.get(f"/studies/{uid}/metadata").status_code == 404
    assert http.get(f"/studies/{uid}/series/{uid}/instances/{uid}/frames/1").status_code == 404


def test_wado_uri(web: LiveServer, demo_files: list[Path]) -> None:
    path, dx = _first(demo_files, "DX")
    params = {
        "requestType": "WADO",
        "studyUID": dx.StudyInstanceUID,
        "seriesUID": dx.SeriesInstanceUID,
        "objectUID": dx.SOPInstanceUID,
    }
    with httpx.Client(base_url=web.http_url, headers=web.auth_headers()) as c:
        jpeg = c.get("/dicom-web/wado", params=params)
        assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8"
        dicom = c.get("/dicom-web/wado", params={**params, "contentType": "application/dicom"})
        assert dicom.content == path.read_bytes()
        assert c.get("/dicom-web/wado", params={**params, "requestType": "X"}).status_code == 400


# ----------------------------------------------------------------------------- STOW-RS


def _new_instance(study_uid: str | None = None) -> Dataset:
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientName = "STOW^Rex"
    ds.PatientSpeciesDescription = "Canine"
    return ds


def test_stow_stores_through_ingest_and_answers_references(
    client: DICOMwebClient, http: httpx.Client
) -> None:
    ds = _new_instance()
    resp = client.store_instances([ds])
    refs = resp.ReferencedSOPSequence
    assert refs[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert refs[0].RetrieveURL.endswith(f"/instances/{ds.SOPInstanceUID}")
    found = client.search_for_studies(search_filters={"StudyInstanceUID": ds.StudyInstanceUID})
    assert _value(found[0], "00100010") == "STOW^Rex"
    again = client.store_instances([ds])  # identical bytes: a no-op, still success
    assert again.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID


def test_stow_partial_failure_reports_each_instance(http: httpx.Client) -> None:
    study = generate_uid()
    good = _new_instance(study)
    other_study = _new_instance()
    truncated = _new_instance(study)
    raw_truncated = _bytes(truncated)[:-4000]
    body, ctype = _stow_body([_bytes(good), _bytes(other_study), raw_truncated, b"not dicom at all"])
    r = http.post(
        f"/studies/{study}", content=body, headers={"Content-Type": ctype, "Accept": "application/dicom+json"}
    )
    assert r.status_code == 202, r.text
    out = r.json()
    assert [_value(i, "00081155") for i in out["00081199"]["Value"]] == [good.SOPInstanceUID]
    failed = out["00081198"]["Value"]
    assert len(failed) == 3
    reasons = {_value(i, "00081155"): _value(i, "00081197") for i in failed}
    assert reasons[other_study.SOPInstanceUID] == 0xA900
    assert all(code for code in reasons.values())
    # nothing half-stored: the truncated instance is not in the index
    assert (
        http.get(f"/studies/{study}/instances", params={"SOPInstanceUID": truncated.SOPInstanceUID}).json()
        == []
    )


def test_stow_bad_requests(http: httpx.Client) -> None:
    r = http.post("/studies", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = http.post(
        "/studies",
        content=b"garbage",
        headers={"Content-Type": 'multipart/related; type="application/dicom"'},
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    body, ctype = _stow_body([b"\x00" * 10])
    r = http.post("/studies", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 409
    # a deeply nested sequence (2,000 levels) is stored or refused cleanly, never a crash
    body, ctype = _stow_body([_deeply_nested(2000)])
    r = http.post("/studies", content=body, headers={"Content-Type": ctype})
    assert r.status_code in (200, 409), r.text
    assert http.get("/studies", params={"limit": "1"}).status_code == 200  # still serving


def test_stow_requires_write_permission_and_auth(web: LiveServer) -> None:
    body, ctype = _stow_body([_bytes(_new_instance())])
    with httpx.Client(base_url=f"{web.http_url}/dicom-web") as anon:
        assert anon.post("/studies", content=body, headers={"Content-Type": ctype}).status_code == 401
        assert anon.get("/studies").status_code == 401


# ----------------------------------------------------------------------------- helpers


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _deeply_nested(depth: int) -> bytes:
    """A Basic Text SR whose Content Sequence nests ``depth`` levels (undefined lengths, by hand:
    pydicom's writer cannot produce such a file in reasonable memory)."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "DEEP"
    ds.Modality = "SR"
    ds.file_meta = Dataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    head = _bytes(ds)
    open_sq = b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    close_sq = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return head + open_sq * depth + close_sq * depth


def _stow_body(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = "vetpacs-test-boundary"
    out = b""
    for data in parts:
        out += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f'multipart/related; type="application/dicom"; boundary={boundary}'


def _multipart(r: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    ctype = r.headers["content-type"]
    boundary = next(
        p.split("=", 1)[1].strip('"') for p in ctype.split(";") if p.strip().startswith("boundary=")
    )
    delim = b"--" + boundary.encode()
    chunks = r.content.split(b"\r\n" + delim)
    first = chunks[0]
    assert first.startswith(delim)
    chunks[0] = first[len(delim) :]
    parts = []
    for chunk in chunks:
        if chunk.startswith(b"--"):
            break
        head, _, body = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        parts.append((headers, body))
    return parts


@pytest.mark.parametrize("modality", ["DX", "US", "CT", "IO"])
def test_ohif_style_session(http: httpx.Client, modality: str) -> None:
    """What OHIF does to open a study: QIDO studies, series, series metadata, then frames."""
    json_accept = {"Accept": "application/dicom+json"}
    studies = http.get("/studies", params={"ModalitiesInStudy": modality}, headers=json_accept).json()
    assert studies, modality
    study = _value(studies[0], "0020000D")
    series = http.get(f"/studies/{study}/series", headers=json_accept).json()
    target = next(s for s in series if _value(s, "00080060") == modality)
    series_uid = _value(target, "0020000E")
    meta = http.get(f"/studies/{study}/series/{series_uid}/metadata", headers=json_accept).json()
    assert len(meta) == _value(target, "00201209")
    for item in meta:
        rows, cols = _value(item, "00280010"), _value(item, "00280011")
        samples, bits = _value(item, "00280002"), _value(item, "00280100")
        frames = int(_value(item, "00280008") or 1)
        url = item["7FE00010"]["BulkDataURI"]
        assert url.startswith("http")
        r = http.get(
            f"{url}/1",
            headers={"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"},
        )
        assert r.status_code == 200, r.text
        ((headers, body),) = _multipart(r)
        assert "transfer-syntax=" in headers["content-type"]
        assert len(body) == rows * cols * samples * bits // 8, (modality, frames)
