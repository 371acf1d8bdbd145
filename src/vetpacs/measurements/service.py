"""Saving, changing, deleting and listing measurements; every stored value is recomputed here.

The viewer sends points; the server reads the image's Pixel Spacing / Imager Pixel Spacing from the
archived header, recomputes the value with :mod:`vetpacs.measurements.geometry`, and stores its own
result. A client value that disagrees (beyond :data:`REL_TOLERANCE`) is replaced and the row is
flagged ``value_corrected``. Each write runs in one transaction with its audit row and its outbox
event (``measurement.saved``, ``measurement.deleted``, ``key_image.flagged``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
from sqlalchemy import Connection, Table, insert, select, update

from vetpacs import events
from vetpacs.archive.context import Archive
from vetpacs.archive.models import Instance, Series, Study
from vetpacs.archive.retrieve import read_bytes, stored_instances
from vetpacs.auth.audit import record_in, utcnow
from vetpacs.auth.roles import Actor, Role
from vetpacs.errors import Forbidden, Invalid, NotFound
from vetpacs.measurements import geometry
from vetpacs.measurements.models import KeyImage, Measurement
from vetpacs.measurements.schemas import (
    KeyImageRead,
    KeyImageSet,
    MeasurementCreate,
    MeasurementList,
    MeasurementRead,
    MeasurementUpdate,
)

MEAS: Table = cast(Table, Measurement.__table__)
KEYS: Table = cast(Table, KeyImage.__table__)
IN: Table = cast(Table, Instance.__table__)
SE: Table = cast(Table, Series.__table__)
ST: Table = cast(Table, Study.__table__)

REL_TOLERANCE = 1e-3  # a client value is accepted when |client - server| <= 1e-3 * max(1, |server|)
ROI_TOOLS = ("ellipse_roi", "rectangle_roi")
MAX_ROI_PIXELS = 16_000_000


@dataclass(frozen=True)
class ImageInfo:
    """The archived instance a measurement is made on: hierarchy, SOP class and header."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    number_of_frames: int
    header: dict[str, Any]


def image_info(conn: Connection, sop_instance_uid: str) -> ImageInfo:
    """The archived instance with this SOP Instance UID (NotFound when absent)."""
    row = conn.execute(
        select(
            IN.c.sop_instance_uid,
            IN.c.sop_class_uid,
            IN.c.number_of_frames,
            IN.c.header_json,
            SE.c.series_instance_uid,
            ST.c.study_instance_uid,
        )
        .select_from(IN.join(SE, IN.c.series_pk == SE.c.id).join(ST, SE.c.study_pk == ST.c.id))
        .where(IN.c.sop_instance_uid == sop_instance_uid)
    ).first()
    if row is None:
        raise NotFound(f"no instance {sop_instance_uid} in this archive")
    return ImageInfo(
        study_instance_uid=row.study_instance_uid,
        series_instance_uid=row.series_instance_uid,
        sop_instance_uid=row.sop_instance_uid,
        sop_class_uid=row.sop_class_uid,
        number_of_frames=int(row.number_of_frames or 1),
        header=json.loads(row.header_json or "{}"),
    )


def _first_value(header: dict[str, Any], tag: str) -> Any:
    values = (header.get(tag) or {}).get("Value") or []
    return values[0] if values else None


def _spacing_of(header: dict[str, Any], tag: str) -> list[float] | None:
    values = (header.get(tag) or {}).get("Value")
    if values and len(values) == 2:
        return [float(values[0]), float(values[1])]
    return None


def header_calibration(header: dict[str, Any]) -> dict[str, Any]:
    """Pixel Spacing and Imager Pixel Spacing of an image from its DICOM JSON header.

    Pixel Spacing (0028,0030) at the top level, else in the Shared Functional Groups (5200,9229) >
    Pixel Measures (0028,9110) of enhanced multi-frame objects (PS3.3 C.7.6.16.2.1); Imager Pixel
    Spacing (0018,1164) at the top level (PS3.3 C.8.11.4).
    """
    ps = _spacing_of(header, "00280030")
    if ps is None:
        shared = _first_value(header, "52009229")
        if isinstance(shared, dict):
            measures = _first_value(shared, "00289110")
            if isinstance(measures, dict):
                ps = _spacing_of(measures, "00280030")
    return {"pixel_spacing": ps, "imager_pixel_spacing": _spacing_of(header, "00181164"), "user": None}


def _roi_pixels(
    archive: Archive, info: ImageInfo, frame_number: int, points: dict[str, Any]
) -> dict[str, Any]:
    """The modality values (Rescale Slope/Intercept applied, PS3.3 C.11.1.1) under a region's box."""
    corners = points.get("corners")
    if not isinstance(corners, list) or len(corners) != 2:
        return {}
    try:
        cols = sorted(float(p[0]) for p in corners)
        rows = sorted(float(p[1]) for p in corners)
    except (TypeError, ValueError, IndexError):
        return {}
    from vetpacs.imaging.frames import PixelInstance  # numpy-heavy; only regions need it

    ref = stored_instances(archive, study_uid=info.study_instance_uid, sop_uid=info.sop_instance_uid)[0].ref
    pixel = PixelInstance.from_bytes(read_bytes(archive, ref))
    if pixel.samples_per_pixel != 1:
        return {}
    c0, c1 = max(0, math.ceil(cols[0])), min(pixel.columns - 1, math.floor(cols[1]))
    r0, r1 = max(0, math.ceil(rows[0])), min(pixel.rows - 1, math.floor(rows[1]))
    if c1 < c0 or r1 < r0 or (c1 - c0 + 1) * (r1 - r0 + 1) > MAX_ROI_PIXELS:
        return {"origin": [0, 0], "values": []}
    arr = pixel.array(frame_number - 1)[r0 : r1 + 1, c0 : c1 + 1].astype(np.float64)
    slope = _first_value(info.header, "00281053")
    intercept = _first_value(info.header, "00281052")
    arr = arr * float(slope if slope is not None else 1.0) + float(intercept or 0.0)
    return {"origin": [c0, r0], "values": arr.tolist()}


def _value_unit(header: dict[str, Any]) -> str:
    modality = _first_value(header, "00080060")
    rescale_type = _first_value(header, "00281054")
    return "HU" if modality == "CT" or rescale_type == "HU" else "pixel_value"


def recompute(
    archive: Archive,
    info: ImageInfo,
    frame_number: int,
    tool: str,
    points: dict[str, Any],
    user_calibration: dict[str, Any] | None,
) -> geometry.Result:
    """The server's value of a measurement: geometry on the stored points and the archived spacing.

    Region statistics are computed from the archived frame, never from client-sent pixel values.
    """
    if frame_number > max(1, info.number_of_frames):
        raise Invalid(f"frame {frame_number} is beyond the instance's {info.number_of_frames} frames")
    calibration = header_calibration(info.header)
    calibration["user"] = user_calibration or None
    inp = {k: v for k, v in points.items() if k != "pixels"}
    if tool not in ROI_TOOLS:
        return geometry.compute(tool, inp, calibration)
    try:
        pixels = _roi_pixels(archive, info, frame_number, inp)
    except Invalid:  # e.g. a codec this server lacks: geometry only, and say so
        pixels = {}
    if not pixels:
        result = geometry.compute(tool, inp, calibration)
        return replace(result, warnings=(*result.warnings, "pixel_statistics_unavailable"))
    inp["pixels"] = pixels
    inp["value_unit"] = _value_unit(info.header)
    return geometry.compute(tool, inp, calibration)


def _disagrees(client: dict[str, Any] | None, server: dict[str, Any]) -> dict[str, Any]:
    """The client's values that differ from the server's beyond the tolerance (name -> client value)."""
    if not client:
        return {}
    values = client.get("values") if isinstance(client.get("values"), dict) else client
    out: dict[str, Any] = {}
    for name, theirs in (values or {}).items():
        ours = server["values"].get(name)
        if ours is None:
            continue
        number = theirs.get("value") if isinstance(theirs, dict) else theirs
        unit = theirs.get("unit", ours["unit"]) if isinstance(theirs, dict) else ours["unit"]
        if (
            not isinstance(number, int | float)
            or isinstance(number, bool)
            or not math.isfinite(number)
            or unit != ours["unit"]
            or abs(number - ours["value"]) > REL_TOLERANCE * max(1.0, abs(ours["value"]))
        ):
            out[name] = theirs
    return out


def _read(row: Any) -> MeasurementRead:
    return MeasurementRead(
        id=row.id,
        study_instance_uid=row.study_instance_uid,
        series_instance_uid=row.series_instance_uid,
        sop_instance_uid=row.sop_instance_uid,
        frame_number=row.frame_number,
        username=row.username,
        tool=row.tool,
        label=row.label,
        points=json.loads(row.points_json),
        calibration=json.loads(row.calibration_json) if row.calibration_json else None,
        value=json.loads(row.value_json),
        value_corrected=bool(row.value_corrected),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _row(conn: Connection, measurement_id: int) -> Any:
    row = conn.execute(select(MEAS).where(MEAS.c.id == measurement_id, MEAS.c.deleted.is_(False))).first()
    if row is None:
        raise NotFound(f"no measurement {measurement_id}")
    return row


def _check_owner(row: Any, actor: Actor) -> None:
    if row.username != actor.username and actor.role is not Role.ADMIN:
        raise Forbidden("only the user who made a measurement (or an admin) may change it")


def _write(
    conn: Connection, actor: Actor, action: str, object_id: int | str, payload: dict[str, Any]
) -> None:
    kind = action.split(".")[0]
    record_in(
        conn, actor, action, object_type=kind, object_id=str(object_id), detail=payload, address=actor.address
    )
    events.emit(
        conn, action, aggregate_type=kind, aggregate_id=object_id, payload=payload, actor=actor.username
    )


def _summary(row_id: int, info_study: str, sop: str, tool: str, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row_id,
        "study_instance_uid": info_study,
        "sop_instance_uid": sop,
        "tool": tool,
        "values": {k: v["value"] for k, v in result["values"].items()},
        "calibrated": result["calibrated"],
    }


def save_measurement(
    archive: Archive, study_uid: str, body: MeasurementCreate, *, actor: Actor
) -> MeasurementRead:
    """Store a new measurement on an instance of ``study_uid`` with the server-computed value.

    Audit and event ``measurement.saved``; the event payload says whether the client's value was
    replaced (``corrected``).
    """
    with archive.engine.connect() as conn:
        info = image_info(conn, body.sop_instance_uid)
    if info.study_instance_uid != study_uid:
        raise NotFound(f"instance {body.sop_instance_uid} is not in study {study_uid}")
    points = {k: v for k, v in body.points.items() if k != "pixels"}
    result = recompute(archive, info, body.frame_number, body.tool, points, body.calibration).to_json()
    wrong = _disagrees(body.value, result)
    now = utcnow()
    with archive.write_transaction() as conn:
        new = conn.execute(
            insert(MEAS).values(
                study_instance_uid=info.study_instance_uid,
                series_instance_uid=info.series_instance_uid,
                sop_instance_uid=info.sop_instance_uid,
                frame_number=body.frame_number,
                username=actor.username,
                tool=body.tool,
                label=body.label,
                points_json=json.dumps(points),
                calibration_json=json.dumps(body.calibration) if body.calibration else "",
                value_json=json.dumps(result),
                value_corrected=bool(wrong),
                deleted=False,
                created_at=now,
                updated_at=now,
            )
        )
        row_id = int(new.inserted_primary_key[0])  # type: ignore[index]
        payload = _summary(row_id, info.study_instance_uid, info.sop_instance_uid, body.tool, result)
        payload["corrected"] = bool(wrong)
        if wrong:
            payload["client_values"] = wrong
        _write(conn, actor, "measurement.saved", row_id, payload)
        return _read(_row(conn, row_id))


def update_measurement(
    archive: Archive, measurement_id: int, body: MeasurementUpdate, *, actor: Actor
) -> MeasurementRead:
    """Change the label, points or calibration of a measurement and recompute (``measurement.saved``)."""
    with archive.engine.connect() as conn:
        before = _row(conn, measurement_id)
        _check_owner(before, actor)
        info = image_info(conn, before.sop_instance_uid)
    changes = body.model_dump(exclude_unset=True)
    points = changes.get("points") or json.loads(before.points_json)
    points = {k: v for k, v in points.items() if k != "pixels"}
    if "calibration" in changes:
        calibration = changes["calibration"] or None
    else:
        calibration = json.loads(before.calibration_json) if before.calibration_json else None
    result = recompute(archive, info, before.frame_number, before.tool, points, calibration).to_json()
    wrong = _disagrees(body.value, result)
    with archive.write_transaction() as conn:
        row = _row(conn, measurement_id)
        conn.execute(
            update(MEAS)
            .where(MEAS.c.id == measurement_id)
            .values(
                label=row.label if body.label is None else body.label,
                points_json=json.dumps(points),
                calibration_json=json.dumps(calibration) if calibration else "",
                value_json=json.dumps(result),
                value_corrected=bool(wrong),
                updated_at=utcnow(),
            )
        )
        payload = _summary(measurement_id, row.study_instance_uid, row.sop_instance_uid, row.tool, result)
        payload["corrected"] = bool(wrong)
        payload["changed"] = sorted(changes)
        if wrong:
            payload["client_values"] = wrong
        _write(conn, actor, "measurement.saved", measurement_id, payload)
        return _read(_row(conn, measurement_id))


def delete_measurement(archive: Archive, measurement_id: int, *, actor: Actor) -> None:
    """Mark a measurement deleted (the row stays for the audit trail); event ``measurement.deleted``."""
    with archive.write_transaction() as conn:
        row = _row(conn, measurement_id)
        _check_owner(row, actor)
        conn.execute(
            update(MEAS).where(MEAS.c.id == measurement_id).values(deleted=True, updated_at=utcnow())
        )
        _write(
            conn,
            actor,
            "measurement.deleted",
            measurement_id,
            {"id": measurement_id, "study_instance_uid": row.study_instance_uid, "tool": row.tool},
        )


def get_measurement(archive: Archive, measurement_id: int) -> MeasurementRead:
    """One measurement (NotFound when absent or deleted)."""
    with archive.engine.connect() as conn:
        return _read(_row(conn, measurement_id))


def list_measurements(
    archive: Archive,
    study_uid: str,
    *,
    username: str | None,
    sop_instance_uid: str | None = None,
) -> MeasurementList:
    """A study's live measurements and key images: one user's, or everyone's when ``username`` is None."""
    q = select(MEAS).where(MEAS.c.study_instance_uid == study_uid, MEAS.c.deleted.is_(False))
    k = select(KEYS).where(KEYS.c.study_instance_uid == study_uid, KEYS.c.flagged.is_(True))
    if username is not None:
        q = q.where(MEAS.c.username == username)
        k = k.where(KEYS.c.username == username)
    if sop_instance_uid:
        q = q.where(MEAS.c.sop_instance_uid == sop_instance_uid)
        k = k.where(KEYS.c.sop_instance_uid == sop_instance_uid)
    with archive.engine.connect() as conn:
        rows = conn.execute(q.order_by(MEAS.c.id)).all()
        keys = conn.execute(k.order_by(KEYS.c.id)).all()
    return MeasurementList(
        measurements=[_read(r) for r in rows],
        key_images=[_key_read(r) for r in keys],
    )


def _key_read(row: Any) -> KeyImageRead:
    return KeyImageRead(
        study_instance_uid=row.study_instance_uid,
        sop_instance_uid=row.sop_instance_uid,
        frame_number=row.frame_number,
        username=row.username,
        flagged=bool(row.flagged),
        updated_at=row.updated_at,
    )


def set_key_image(
    archive: Archive, sop_instance_uid: str, body: KeyImageSet, *, actor: Actor
) -> KeyImageRead:
    """Flag or unflag a frame as one of the actor's key images (event ``key_image.flagged``)."""
    with archive.engine.connect() as conn:
        info = image_info(conn, sop_instance_uid)
    if body.frame_number > max(1, info.number_of_frames):
        raise Invalid(f"frame {body.frame_number} is beyond the instance's {info.number_of_frames} frames")
    now = utcnow()
    where = (
        (KEYS.c.sop_instance_uid == sop_instance_uid)
        & (KEYS.c.frame_number == body.frame_number)
        & (KEYS.c.username == actor.username)
    )
    with archive.write_transaction() as conn:
        existing = conn.execute(select(KEYS.c.id).where(where)).first()
        if existing is None:
            conn.execute(
                insert(KEYS).values(
                    study_instance_uid=info.study_instance_uid,
                    sop_instance_uid=sop_instance_uid,
                    frame_number=body.frame_number,
                    username=actor.username,
                    flagged=body.flagged,
                    updated_at=now,
                )
            )
        else:
            conn.execute(update(KEYS).where(where).values(flagged=body.flagged, updated_at=now))
        payload = {
            "study_instance_uid": info.study_instance_uid,
            "sop_instance_uid": sop_instance_uid,
            "frame_number": body.frame_number,
            "flagged": body.flagged,
        }
        _write(conn, actor, "key_image.flagged", sop_instance_uid, payload)
        return _key_read(conn.execute(select(KEYS).where(where)).one())
