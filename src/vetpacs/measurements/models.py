"""Measurement and key-image tables: what each user measured or flagged on which image.

A measurement keeps its points (the tool's input, ``docs/measurements.md``), the user calibration
it was made with, and the value the server computed from them; the value is never taken from the
client. Deleting sets ``deleted`` (the row stays for the audit trail).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vetpacs.db.base import Base

UID = String(64)


class Measurement(Base):
    """One measurement or annotation on one frame of one instance, by one user."""

    __tablename__ = "measurements"
    __table_args__ = (Index("ix_measurements_study_user", "study_instance_uid", "username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(UID)
    series_instance_uid: Mapped[str] = mapped_column(UID)
    sop_instance_uid: Mapped[str] = mapped_column(UID, index=True)
    frame_number: Mapped[int] = mapped_column(Integer, default=1)  # 1-based, as in DICOM
    username: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(256), default="")
    points_json: Mapped[str] = mapped_column(Text)
    calibration_json: Mapped[str] = mapped_column(Text, default="")  # user calibration, "" = none
    value_json: Mapped[str] = mapped_column(Text)  # geometry Result.to_json(), computed here
    value_corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class KeyImage(Base):
    """A user's key-image flag on one frame of one instance."""

    __tablename__ = "key_images"
    __table_args__ = (
        UniqueConstraint("sop_instance_uid", "frame_number", "username"),
        Index("ix_key_images_study", "study_instance_uid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(UID)
    sop_instance_uid: Mapped[str] = mapped_column(UID)
    frame_number: Mapped[int] = mapped_column(Integer, default=1)
    username: Mapped[str] = mapped_column(String(64))
    flagged: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
