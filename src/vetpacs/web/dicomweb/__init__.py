"""DICOMweb (PS3.18) under ``/dicom-web``: QIDO-RS, WADO-RS, rendered, thumbnails, STOW-RS, WADO-URI.

Routes are thin: they parse, call the archive (query engine, retrieve, ingest) or ``imaging/``,
and map the result. Every route requires authentication (``web.deps.require``) and is audited.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from vetpacs import imaging
from vetpacs.archive.context import Archive, Origin, OriginKind
from vetpacs.archive.query import Level
from vetpacs.archive.retrieve import StoredInstance, stored_instances
from vetpacs.auth import Actor, Permission
from vetpacs.config import Settings
from vetpacs.errors import Invalid
from vetpacs.web.deps import audit, require
from vetpacs.web.dicomweb import qido, stow, uri, wado
from vetpacs.web.dicomweb.media import DICOM_JSON, multipart_body, new_boundary, parse_accept, split_multipart

Reader = Annotated[Actor, Depends(require(Permission.IMAGES_READ))]
Writer = Annotated[Actor, Depends(require(Permission.IMAGES_WRITE))]

VIEW_AUDIT_SECONDS = 600.0


class _ViewLog:
    """One ``study.viewed`` audit row per user and study every few minutes, not one per frame."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def first(self, username: str, action: str, study_uid: str) -> bool:
        now = time.monotonic()
        key = (username, action, study_uid)
        with self._lock:
            if now - self._seen.get(key, -1e9) < VIEW_AUDIT_SECONDS:
                return False
            self._seen[key] = now
            if len(self._seen) > 10000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < VIEW_AUDIT_SECONDS}
        return True


def create_router(archive: Archive, settings: Settings, prefix: str = "/dicom-web") -> APIRouter:
    """The DICOMweb routes over one archive (mount under ``prefix``)."""
    router = APIRouter(tags=["dicomweb"])
    cache = imaging.RenderCache(
        settings.data_dir / "cache" / "rendered", settings.render_cache_mb * 1024 * 1024
    )
    pixels = wado.PixelCache()
    views = _ViewLog()

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/") + prefix

    def address(request: Request) -> str:
        return request.client.host if request.client else ""

    def viewed(request: Request, actor: Actor, study_uid: str, action: str = "study.viewed") -> None:
        if views.first(actor.username, action, study_uid):
            audit(request).record(
                actor, action, object_type="study", object_id=study_uid, address=address(request)
            )

    def not_acceptable(exc: wado.NotAcceptable) -> HTTPException:
        return HTTPException(status_code=406, detail=str(exc))

    # ------------------------------------------------------------------ QIDO-RS

    def search(request: Request, actor: Actor, level: Level, scope: dict[int, str]) -> Response:
        q, include_all = qido.build_query(
            level, request.query_params, scope=scope, case_insensitive=settings.case_insensitive_names
        )
        results = qido.run_qido(archive, q, include_all, base_url(request))
        audit(request).record(
            actor,
            f"{level.value.lower()}.searched",
            object_type=level.value.lower(),
            object_id=scope.get(0x0020000D, ""),
            detail={"query": str(request.query_params)[:1000], "matches": len(results)},
            address=address(request),
        )
        return Response(json.dumps(results, ensure_ascii=False), media_type=DICOM_JSON)

    @router.get("/studies", summary="QIDO-RS: search for studies")
    def search_studies(request: Request, actor: Reader) -> Response:
        return search(request, actor, Level.STUDY, {})

    @router.get("/series", summary="QIDO-RS: search for series")
    def search_all_series(request: Request, actor: Reader) -> Response:
        return search(request, actor, Level.SERIES, {})

    @router.get("/instances", summary="QIDO-RS: search for instances")
    def search_all_instances(request: Request, actor: Reader) -> Response:
        return search(request, actor, Level.IMAGE, {})

    @router.get("/studies/{study}/series", summary="QIDO-RS: search for series of a study")
    def search_series(request: Request, actor: Reader, study: str) -> Response:
        return search(request, actor, Level.SERIES, {0x0020000D: study})

    @router.get("/studies/{study}/instances", summary="QIDO-RS: search for instances of a study")
    def search_study_instances(request: Request, actor: Reader, study: str) -> Response:
        return search(request, actor, Level.IMAGE, {0x0020000D: study})

    @router.get(
        "/studies/{study}/series/{series}/instances", summary="QIDO-RS: search for instances of a series"
    )
    def search_instances(request: Request, actor: Reader, study: str, series: str) -> Response:
        return search(request, actor, Level.IMAGE, {0x0020000D: study, 0x0020000E: series})

    # ------------------------------------------------------------------ WADO-RS: instances

    def retrieve(request: Request, actor: Actor, items: list[StoredInstance], study: str) -> Response:
        try:
            syntax = wado.choose_dicom_syntax(
                parse_accept(request.headers.get("accept"), request.query_params.getlist("accept"))
            )
            ctype, body = wado.stream_instances(archive, items, syntax)
        except wado.NotAcceptable as exc:
            raise not_acceptable(exc) from exc
        audit(request).record(
            actor,
            "instances.downloaded",
            object_type="study",
            object_id=study,
            detail={"instances": len(items), "transfer_syntax": syntax or "default"},
            address=address(request),
        )
        return StreamingResponse(body, media_type=ctype)

    @router.get("/studies/{study}", summary="WADO-RS: retrieve a study")
    def retrieve_study(request: Request, actor: Reader, study: str) -> Response:
        return retrieve(request, actor, stored_instances(archive, study_uid=study), study)

    @router.get("/studies/{study}/series/{series}", summary="WADO-RS: retrieve a series")
    def retrieve_series(request: Request, actor: Reader, study: str, series: str) -> Response:
        items = stored_instances(archive, study_uid=study, series_uid=series)
        return retrieve(request, actor, items, study)

    @router.get("/studies/{study}/series/{series}/instances/{sop}", summary="WADO-RS: retrieve an instance")
    def retrieve_instance(request: Request, actor: Reader, study: str, series: str, sop: str) -> Response:
        items = stored_instances(archive, study_uid=study, series_uid=series, sop_uid=sop)
        return retrieve(request, actor, items, study)

    # ------------------------------------------------------------------ WADO-RS: metadata

    def metadata(request: Request, actor: Actor, study: str, series: str | None, sop: str | None) -> Response:
        items = stored_instances(archive, study_uid=study, series_uid=series, sop_uid=sop, with_header=True)
        viewed(request, actor, study)
        return Response(wado.metadata_json(items, base_url(request)), media_type=DICOM_JSON)

    @router.get("/studies/{study}/metadata", summary="WADO-RS: metadata of a study")
    def study_metadata(request: Request, actor: Reader, study: str) -> Response:
        return metadata(request, actor, study, None, None)

    @router.get("/studies/{study}/series/{series}/metadata", summary="WADO-RS: metadata of a series")
    def series_metadata(request: Request, actor: Reader, study: str, series: str) -> Response:
        return metadata(request, actor, study, series, None)

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/metadata",
        summary="WADO-RS: metadata of an instance",
    )
    def instance_metadata(request: Request, actor: Reader, study: str, series: str, sop: str) -> Response:
        return metadata(request, actor, study, series, sop)

    # ------------------------------------------------------------------ WADO-RS: frames, bulk data

    def one(study: str, series: str, sop: str) -> StoredInstance:
        return stored_instances(archive, study_uid=study, series_uid=series, sop_uid=sop)[0]

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/frames/{frames}", summary="WADO-RS: retrieve frames"
    )
    def retrieve_frames(
        request: Request, actor: Reader, study: str, series: str, sop: str, frames: str
    ) -> Response:
        indexes = wado.parse_frame_list(frames)
        item = one(study, series, sop)
        ranges = parse_accept(request.headers.get("accept"), request.query_params.getlist("accept"))
        try:
            encoding = wado.choose_frame_encoding(ranges, item.ref.transfer_syntax_uid)
        except wado.NotAcceptable as exc:
            raise not_acceptable(exc) from exc
        inst = pixels.get(archive, item.ref)
        parts = wado.frame_parts(inst, indexes, encoding)
        viewed(request, actor, study)
        boundary = new_boundary()
        first_type = parts[0][0].split(";")[0]
        ctype = f'multipart/related; type="{first_type}"; boundary={boundary}'
        return Response(b"".join(multipart_body(boundary, parts)), media_type=ctype)

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/bulk/{tag}", summary="WADO-RS: retrieve bulk data"
    )
    def retrieve_bulk(
        request: Request, actor: Reader, study: str, series: str, sop: str, tag: str
    ) -> Response:
        item = one(study, series, sop)
        value = wado.bulk_value(archive, item.ref, tag)
        viewed(request, actor, study)
        boundary = new_boundary()
        body = b"".join(multipart_body(boundary, [("application/octet-stream", value)]))
        return Response(
            body, media_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}'
        )

    # ------------------------------------------------------------------ rendered and thumbnails

    def rendered_type(request: Request) -> str:
        try:
            return wado.choose_rendered_type(
                parse_accept(request.headers.get("accept"), request.query_params.getlist("accept"))
            )
        except wado.NotAcceptable as exc:
            raise not_acceptable(exc) from exc

    def render_one(request: Request, item: StoredInstance, frame: int, media_type: str) -> bytes:
        p = request.query_params
        return wado.rendered(
            cache,
            pixels,
            archive,
            item.ref,
            frame,
            media_type,
            window=p.get("window"),
            viewport=p.get("viewport"),
            quality=p.get("quality"),
        )

    def render_many(request: Request, actor: Actor, items: list[StoredInstance], study: str) -> Response:
        media_type = rendered_type(request)
        images = [(media_type, render_one(request, item, 0, media_type)) for item in items]
        viewed(request, actor, study)
        boundary = new_boundary()
        return Response(
            b"".join(multipart_body(boundary, images)),
            media_type=f'multipart/related; type="{media_type}"; boundary={boundary}',
        )

    @router.get("/studies/{study}/rendered", summary="WADO-RS: rendered study (first frame of each instance)")
    def rendered_study(request: Request, actor: Reader, study: str) -> Response:
        return render_many(request, actor, stored_instances(archive, study_uid=study), study)

    @router.get("/studies/{study}/series/{series}/rendered", summary="WADO-RS: rendered series")
    def rendered_series(request: Request, actor: Reader, study: str, series: str) -> Response:
        items = stored_instances(archive, study_uid=study, series_uid=series)
        return render_many(request, actor, items, study)

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/rendered",
        summary="WADO-RS: rendered instance (its first frame)",
    )
    def rendered_instance(request: Request, actor: Reader, study: str, series: str, sop: str) -> Response:
        media_type = rendered_type(request)
        out = render_one(request, one(study, series, sop), 0, media_type)
        viewed(request, actor, study)
        return Response(out, media_type=media_type)

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/frames/{frames}/rendered",
        summary="WADO-RS: rendered frame(s)",
    )
    def rendered_frames(
        request: Request, actor: Reader, study: str, series: str, sop: str, frames: str
    ) -> Response:
        indexes = wado.parse_frame_list(frames)
        media_type = rendered_type(request)
        item = one(study, series, sop)
        viewed(request, actor, study)
        if len(indexes) == 1:
            return Response(render_one(request, item, indexes[0], media_type), media_type=media_type)
        images = [(media_type, render_one(request, item, i, media_type)) for i in indexes]
        boundary = new_boundary()
        return Response(
            b"".join(multipart_body(boundary, images)),
            media_type=f'multipart/related; type="{media_type}"; boundary={boundary}',
        )

    def thumb(request: Request, actor: Actor, items: list[StoredInstance], study: str) -> Response:
        media_type = rendered_type(request)
        images = [i for i in items if i.ref.sop_class_uid] or items
        size = _thumb_size(request.query_params.get("viewport"))
        out = wado.thumbnail(cache, pixels, archive, images[len(images) // 2].ref, media_type, size)
        viewed(request, actor, study)
        return Response(out, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    @router.get("/studies/{study}/thumbnail", summary="Thumbnail of a study")
    def study_thumbnail(request: Request, actor: Reader, study: str) -> Response:
        items = stored_instances(archive, study_uid=study)
        first_series = items[0].ref.series_instance_uid
        return thumb(request, actor, [i for i in items if i.ref.series_instance_uid == first_series], study)

    @router.get("/studies/{study}/series/{series}/thumbnail", summary="Thumbnail of a series")
    def series_thumbnail(request: Request, actor: Reader, study: str, series: str) -> Response:
        return thumb(request, actor, stored_instances(archive, study_uid=study, series_uid=series), study)

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/thumbnail", summary="Thumbnail of an instance"
    )
    def instance_thumbnail(request: Request, actor: Reader, study: str, series: str, sop: str) -> Response:
        return thumb(request, actor, [one(study, series, sop)], study)

    # ------------------------------------------------------------------ STOW-RS

    async def store(request: Request, actor: Actor, study: str | None) -> Response:
        ctype = request.headers.get("content-type", "")
        media = ctype.split(";")[0].strip().lower()
        if media != "multipart/related":
            raise HTTPException(415, detail='STOW-RS takes multipart/related; type="application/dicom"')
        part_type = _param(ctype, "type") or "application/dicom"
        if part_type.lower() != "application/dicom":
            raise HTTPException(415, detail=f"only application/dicom parts are accepted, not {part_type}")
        body = await request.body()
        parts = split_multipart(body, ctype)
        if not parts:
            raise Invalid("the request holds no DICOM part")
        origin = Origin(kind=OriginKind.STOW, user=actor.username, address=address(request))
        status, result, studies = await run_in_threadpool(
            stow.store_parts, archive, parts, origin=origin, study_uid=study, base_url=base_url(request)
        )
        audit(request).record(
            actor,
            "instances.stored",
            object_type="study",
            object_id=",".join(studies)[:200],
            outcome="success" if status == 200 else "partial" if status == 202 else "failure",
            detail={
                "parts": len(parts),
                "stored": len(result.get("00081199", {}).get("Value", [])),
                "failed": len(result.get("00081198", {}).get("Value", [])),
            },
            address=address(request),
        )
        return Response(json.dumps(result), status_code=status, media_type=DICOM_JSON)

    @router.post("/studies", summary="STOW-RS: store instances")
    async def store_instances(request: Request, actor: Writer) -> Response:
        return await store(request, actor, None)

    @router.post("/studies/{study}", summary="STOW-RS: store instances of one study")
    async def store_study_instances(request: Request, actor: Writer, study: str) -> Response:
        return await store(request, actor, study)

    # ------------------------------------------------------------------ WADO-URI

    @router.get("/wado", summary="WADO-URI (PS3.18 9): one instance as DICOM or as an image")
    def wado_uri(request: Request, actor: Reader) -> Response:
        params = uri.wado_uri_request(request.query_params)
        item = one(params["studyUID"], params["seriesUID"], params["objectUID"])
        content = params["contentType"]
        if content == "application/dicom":
            syntax = params.get("transferSyntax") or "*"
            try:
                ts, payload = wado.instance_payload(archive, item.ref, syntax)
            except wado.NotAcceptable as exc:
                raise not_acceptable(exc) from exc
            data = payload.read_bytes() if not isinstance(payload, bytes) else payload
            audit(request).record(
                actor,
                "instances.downloaded",
                object_type="study",
                object_id=params["studyUID"],
                detail={"instances": 1, "transfer_syntax": ts, "via": "wado-uri"},
                address=address(request),
            )
            return Response(data, media_type="application/dicom")
        if content not in wado.RENDER_TYPES:
            raise HTTPException(406, detail=f"contentType {content} is not available")
        out = wado.rendered(
            cache,
            pixels,
            archive,
            item.ref,
            uri.frame_index(params),
            content,
            window=uri.window_text(params),
            viewport=uri.viewport_text(params),
            quality=params.get("imageQuality"),
        )
        viewed(request, actor, params["studyUID"])
        return Response(out, media_type=content)

    return router


def _param(content_type: str, name: str) -> str:
    from vetpacs.web.dicomweb.media import parse_media_type

    return parse_media_type(content_type).params.get(name, "")


def _thumb_size(viewport: str | None) -> int:
    if not viewport:
        return 128
    try:
        width, height = (int(v) for v in viewport.split(",")[:2])
    except ValueError as exc:
        raise Invalid(f"viewport must be width,height, not {viewport!r}") from exc
    if not (8 <= width <= 1024 and 8 <= height <= 1024):
        raise Invalid("thumbnail viewport must be between 8 and 1024 pixels")
    return max(width, height)


__all__ = ["create_router"]
