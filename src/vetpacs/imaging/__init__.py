"""Pixel decoding, windowing, rendered frames, thumbnails and a render cache (no transport code).

Used by the DICOMweb WADO-RS / WADO-URI routes; see docs/imaging.md.
"""

from vetpacs.imaging.cache import RenderCache
from vetpacs.imaging.frames import PixelInstance, frame_media_type
from vetpacs.imaging.render import RENDERED_MEDIA_TYPES, Viewport, Window, render_frame, render_thumbnail

__all__ = [
    "RENDERED_MEDIA_TYPES",
    "PixelInstance",
    "RenderCache",
    "Viewport",
    "Window",
    "frame_media_type",
    "render_frame",
    "render_thumbnail",
]
