"""What the measurement services take and return (also the REST API's request and response bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class MeasurementCreate(BaseModel):
    """A measurement or annotation as the viewer sends it; ``value`` is only compared, never trusted."""

    sop_instance_uid: str = Field(min_length=1, max_length=64)
    frame_number: int = Field(default=1, ge=1, description="1-based frame of a multi-frame instance.")
    tool: str = Field(min_length=1, max_length=32, description="A tool of docs/measurements.md.")
    label: str = Field(default="", max_length=256)
    points: dict[str, Any] = Field(description="The tool's input fields (docs/measurements.md).")
    calibration: dict[str, Any] | None = Field(
        default=None,
        description='A user calibration on this image: {"line": [[c, r], [c, r]], "known_mm": 25}.',
    )
    value: dict[str, Any] | None = Field(
        default=None, description="The value the client computed (Result JSON); checked against the server's."
    )


class MeasurementUpdate(BaseModel):
    """Changes to a measurement; absent fields stay, the value is recomputed."""

    label: str | None = Field(default=None, max_length=256)
    points: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    value: dict[str, Any] | None = None


class MeasurementRead(BaseModel):
    """A stored measurement with the value the server computed."""

    id: int
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    frame_number: int
    username: str
    tool: str
    label: str
    points: dict[str, Any]
    calibration: dict[str, Any] | None
    value: dict[str, Any]
    value_corrected: bool = Field(description="True when the client's value disagreed and was replaced.")
    created_at: datetime
    updated_at: datetime


class KeyImageSet(BaseModel):
    """Flag (or unflag) one frame of an instance as a key image."""

    frame_number: int = Field(default=1, ge=1)
    flagged: bool = True


class KeyImageRead(BaseModel):
    """A user's key-image flag."""

    study_instance_uid: str
    sop_instance_uid: str
    frame_number: int
    username: str
    flagged: bool
    updated_at: datetime


class MeasurementList(BaseModel):
    """The measurements and key images of a study."""

    measurements: list[MeasurementRead]
    key_images: list[KeyImageRead]


class ExportRequest(BaseModel):
    """Which measurements to export: one user's (default: the caller's) or everyone's."""

    all_users: bool = False


class ExportResult(BaseModel):
    """The DICOM measurement report stored in the study."""

    sop_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    measurement_count: int
    status: str
    presentation_state_uid: str = Field(
        description="The Grayscale Softcopy Presentation State with the graphics."
    )
    presentation_series_uid: str
