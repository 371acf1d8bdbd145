"""Pixel decoding, windowing, rendered frames, thumbnails and a render cache (no transport code).

Used by the DICOMweb WADO-RS / WADO-URI routes; see docs/imaging.md.
"""

from vetpacs.imaging.frames import PixelInstance, frame_media_type

__all__ = ["PixelInstance", "frame_media_type"]
