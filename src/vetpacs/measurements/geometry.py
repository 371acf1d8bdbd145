"""Measurement geometry: every measured value VetPACS stores is computed here from points.

Pure Python (``math`` only). The browser viewer implements the same definitions in TypeScript and
both are held equal by the shared vectors in ``tests/data/measurement_vectors.json``; definitions,
formulas and references are in ``docs/measurements.md``.

Conventions (identical in the TypeScript twin):

- A point is ``(column, row)`` in pixel index coordinates: the centre of the pixel in column ``i``
  and row ``j`` is ``(i, j)`` (the Cornerstone3D index space). DICOM SCOORD uses the top-left
  corner of the first pixel as ``0,0`` (PS3.3 C.10.5.1.2); the SR export adds 0.5.
- Geometry is done in physical space when a spacing is known: ``x = column * column_spacing``,
  ``y = row * row_spacing``, so anisotropic pixels do not distort angles or ratios. Pixel Spacing
  (0028,0030) and Imager Pixel Spacing (0018,1164) are ``[row spacing, column spacing]`` (PS3.3
  10.7.1.3).
- Calibration precedence: a user calibration on that image, else Pixel Spacing (patient mm), else
  Imager Pixel Spacing ("detector mm", never reported as patient mm), else pixels.
- ``calibrated`` is true when every value of the result is meaningful as a physical quantity:
  lengths and areas in patient mm, or values that need no calibration (angles, vertebral units,
  ratios, pixel statistics).
- Rounding to 0.1 is ``floor(x * 10 + 0.5) / 10`` (half up, as JavaScript ``Math.round``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vetpacs.errors import Invalid

Point = tuple[float, float]


class Unit(StrEnum):
    """Unit identifiers of results (the SR export maps them to UCUM, docs/measurements.md)."""

    MM = "mm"
    MM2 = "mm2"
    DETECTOR_MM = "detector_mm"
    DETECTOR_MM2 = "detector_mm2"
    PX = "px"
    PX2 = "px2"
    DEG = "deg"
    VERTEBRAE = "vertebrae"
    RATIO = "ratio"
    COUNT = "count"
    MM_PER_PX = "mm/px"


class CalibrationSource(StrEnum):
    """Where a length scale came from, in precedence order."""

    USER = "user"
    PIXEL_SPACING = "pixel_spacing"
    IMAGER_PIXEL_SPACING = "imager_pixel_spacing"
    NONE = "none"


class GeometryError(Invalid):
    """The points do not define the measurement (collinear rim, zero-length axis...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Quantity:
    """One numeric value with its unit."""

    value: float
    unit: str


@dataclass(frozen=True)
class Result:
    """What a tool computed: named values, whether they are calibrated, and warnings."""

    tool: str
    values: dict[str, Quantity]
    calibrated: bool
    calibration_source: str
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored with a measurement and used by the shared vectors."""
        return {
            "tool": self.tool,
            "values": {k: {"value": q.value, "unit": q.unit} for k, q in self.values.items()},
            "calibrated": self.calibrated,
            "calibration_source": self.calibration_source,
            "warnings": list(self.warnings),
            "extra": self.extra,
        }


@dataclass(frozen=True)
class Scale:
    """Millimetres per pixel along columns (x) and rows (y), and what kind of millimetres."""

    column_mm: float
    row_mm: float
    source: CalibrationSource

    @property
    def calibrated(self) -> bool:
        """True when lengths are patient millimetres (Pixel Spacing or a user calibration)."""
        return self.source in (CalibrationSource.USER, CalibrationSource.PIXEL_SPACING)

    @property
    def length_unit(self) -> Unit:
        """The unit of lengths measured with this scale."""
        if self.calibrated:
            return Unit.MM
        if self.source is CalibrationSource.IMAGER_PIXEL_SPACING:
            return Unit.DETECTOR_MM
        return Unit.PX

    @property
    def area_unit(self) -> Unit:
        """The unit of areas measured with this scale."""
        return {Unit.MM: Unit.MM2, Unit.DETECTOR_MM: Unit.DETECTOR_MM2, Unit.PX: Unit.PX2}[self.length_unit]

    def to_space(self, p: Point) -> Point:
        """Pixel coordinates to physical (or pixel, when uncalibrated) x, y."""
        return (p[0] * self.column_mm, p[1] * self.row_mm)

    def to_pixels(self, p: Point) -> Point:
        """Physical x, y back to pixel coordinates."""
        return (p[0] / self.column_mm, p[1] / self.row_mm)


PIXELS = Scale(1.0, 1.0, CalibrationSource.NONE)


# --- input parsing -----------------------------------------------------------------------------


def _point(value: Any, name: str) -> Point:
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(float(v)) for v in value)
    ):
        return (float(value[0]), float(value[1]))
    raise GeometryError("invalid_input", f"{name} must be a [column, row] pair of numbers")


def _points(value: Any, name: str, minimum: int = 0, exact: int | None = None) -> list[Point]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise GeometryError("invalid_input", f"{name} must be a list of [column, row] points")
    pts = [_point(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if exact is not None and len(pts) != exact:
        raise GeometryError("invalid_input", f"{name} needs exactly {exact} points")
    if len(pts) < minimum:
        raise GeometryError("too_few_points", f"{name} needs at least {minimum} points")
    return pts


def _spacing(value: Any, name: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int | float | str) for v in value)
    ):
        try:
            row, col = float(value[0]), float(value[1])
        except ValueError:
            pass
        else:
            if row > 0 and col > 0 and math.isfinite(row) and math.isfinite(col):
                return (row, col)
    raise GeometryError("invalid_calibration", f"{name} must be [row spacing, column spacing] > 0")


def scale_from(calibration: Mapping[str, Any] | None) -> Scale:
    """Choose the length scale: user calibration > Pixel Spacing > Imager Pixel Spacing > pixels.

    ``calibration`` is ``{"pixel_spacing": [row, col] | null, "imager_pixel_spacing": [row, col]
    | null, "user": {"line": [p, p], "known_mm": 25.0} | null}``. Pixel Spacing (0028,0030) is
    spacing in the patient (PS3.3 10.7.1.3); Imager Pixel Spacing (0018,1164) is at the detector
    front plane (PS3.3 C.8.11.4.1.1) and is only ever reported as "detector mm". A user
    calibration is isotropic: ``known_mm / measured pixels`` along the marker line.
    """
    if not calibration:
        return PIXELS
    if not isinstance(calibration, Mapping):
        raise GeometryError("invalid_calibration", "calibration must be an object")
    user = calibration.get("user")
    if user:
        mm_per_px = user_mm_per_pixel(user)
        return Scale(mm_per_px, mm_per_px, CalibrationSource.USER)
    ps = _spacing(calibration.get("pixel_spacing"), "pixel_spacing")
    if ps is not None:
        return Scale(ps[1], ps[0], CalibrationSource.PIXEL_SPACING)
    ips = _spacing(calibration.get("imager_pixel_spacing"), "imager_pixel_spacing")
    if ips is not None:
        return Scale(ips[1], ips[0], CalibrationSource.IMAGER_PIXEL_SPACING)
    return PIXELS


def user_mm_per_pixel(user: Any) -> float:
    """Millimetres per pixel from a marker of known size: ``known_mm / |line| in pixels``.

    The marker (e.g. a 25 mm sphere) must lie in the plane of interest; its diameter is drawn as
    a line across it. Pixels are assumed square for a user calibration.
    """
    if not isinstance(user, Mapping):
        raise GeometryError("invalid_calibration", "user calibration must be an object")
    a, b = _points(user.get("line"), "user.line", exact=2)
    known = user.get("known_mm")
    if not isinstance(known, int | float) or isinstance(known, bool) or not known > 0:
        raise GeometryError("invalid_calibration", "user.known_mm must be a number > 0")
    px = math.dist(a, b)
    if px <= 0:
        raise GeometryError("zero_length", "the calibration line has zero length")
    return float(known) / px


# --- primitives --------------------------------------------------------------------------------


def round_tenth(x: float) -> float:
    """Round half up to 0.1 (``floor(x * 10 + 0.5) / 10``, as JavaScript's ``Math.round``)."""
    return math.floor(x * 10 + 0.5) / 10


def _sub(a: Point, b: Point) -> Point:
    return (a[0] - b[0], a[1] - b[1])


def _cross(u: Point, v: Point) -> float:
    return u[0] * v[1] - u[1] * v[0]


def _dot(u: Point, v: Point) -> float:
    return u[0] * v[0] + u[1] * v[1]


def angle_between(u: Point, v: Point) -> float:
    """Angle between directions ``u`` and ``v`` in degrees, 0-180: ``atan2(|u x v|, u . v)``.

    The atan2 form is accurate near 0 and 180 degrees, where ``acos`` of the normalised dot
    product loses precision.
    """
    if math.hypot(*u) == 0 or math.hypot(*v) == 0:
        raise GeometryError("zero_length", "an arm of the angle has zero length")
    return math.degrees(math.atan2(abs(_cross(u, v)), _dot(u, v)))


def line_angle(u: Point, v: Point) -> float:
    """Acute angle between two undirected lines with directions ``u`` and ``v``, 0-90 degrees."""
    a = angle_between(u, v)
    return 180.0 - a if a > 90.0 else a


@dataclass(frozen=True)
class Circle:
    """A fitted circle: centre and radius in the coordinates of the fitted points."""

    cx: float
    cy: float
    r: float
    rms: float


def fit_circle(points: Sequence[Point]) -> Circle:
    """Least-squares circle through rim points, algebraic (Kåsa) fit.

    Minimises ``sum (x^2 + y^2 + D x + E y + F)^2`` (Kåsa 1976, IEEE Trans Instrum Meas 25:8-14);
    centre ``(-D/2, -E/2)``, radius ``sqrt(D^2/4 + E^2/4 - F)``. Points are centred on their mean
    and scaled before solving, for conditioning. Fewer than three points or (nearly) collinear
    points raise ``GeometryError`` (``too_few_points`` / ``collinear_points``). ``rms`` is the root
    mean square of the geometric residuals ``|p - c| - r``.
    """
    if len(points) < 3:
        raise GeometryError("too_few_points", "a circle fit needs at least three rim points")
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    s = math.sqrt(sum((p[0] - mx) ** 2 + (p[1] - my) ** 2 for p in points) / n)
    if s == 0:
        raise GeometryError("collinear_points", "the rim points coincide")
    us = [((p[0] - mx) / s, (p[1] - my) / s) for p in points]
    # Normal equations of [u v 1] . [D E F] = -(u^2 + v^2).
    suu = sum(u * u for u, _ in us)
    svv = sum(v * v for _, v in us)
    suv = sum(u * v for u, v in us)
    su = sum(u for u, _ in us)
    sv = sum(v for _, v in us)
    zs = [u * u + v * v for u, v in us]
    suz = sum(u * z for (u, _), z in zip(us, zs, strict=True))
    svz = sum(v * z for (_, v), z in zip(us, zs, strict=True))
    sz = sum(zs)
    m = [[suu, suv, su], [suv, svv, sv], [su, sv, float(n)]]
    rhs = [-suz, -svz, -sz]
    det = _det3(m)
    # Scaled points have unit RMS radius, so det is O(n^2 ... n^3) for a true circle and ~0 for a
    # line (the u,v covariance is singular).
    if abs(det) < 1e-9 * n**3:
        raise GeometryError("collinear_points", "the rim points are (nearly) collinear")
    d, e, f = _solve3(m, rhs, det)
    cu, cv = -d / 2, -e / 2
    r2 = cu * cu + cv * cv - f
    if r2 <= 0:
        raise GeometryError("collinear_points", "the rim points do not define a circle")
    cx, cy, r = mx + cu * s, my + cv * s, math.sqrt(r2) * s
    rms = math.sqrt(sum((math.dist(p, (cx, cy)) - r) ** 2 for p in points) / n)
    return Circle(cx, cy, r, rms)


def _det3(m: list[list[float]]) -> float:
    return (
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    )


def _solve3(m: list[list[float]], rhs: list[float], det: float) -> tuple[float, float, float]:
    out = []
    for col in range(3):
        mc = [row[:] for row in m]
        for i in range(3):
            mc[i][col] = rhs[i]
        out.append(_det3(mc) / det)
    return out[0], out[1], out[2]


def vertebral_units(length: float, ladder: Sequence[Point]) -> tuple[float, bool]:
    """Convert a length to vertebral units by walking the vertebral ladder from T4.

    ``ladder`` holds the cranial edges of T4, T5, T6... (in the same space as ``length``);
    segment ``s_i`` is the distance between consecutive landmarks. ``VU(L) = k + (L - sum of the
    first k segments) / s_k`` where ``k`` is the number of whole segments that fit (Buchanan and
    Bücheler 1995). A length beyond the last landmark is extrapolated with the last segment and
    the second return value is True.
    """
    if len(ladder) < 2:
        raise GeometryError("too_few_points", "the vertebral ladder needs at least two landmarks")
    segments = [math.dist(ladder[i], ladder[i + 1]) for i in range(len(ladder) - 1)]
    if any(s <= 0 for s in segments):
        raise GeometryError("zero_length", "two consecutive ladder landmarks coincide")
    walked = 0.0
    for k, s in enumerate(segments):
        if length <= walked + s:
            return k + (length - walked) / s, False
        walked += s
    return len(segments) + (length - walked) / segments[-1], True


# --- tools -------------------------------------------------------------------------------------


def _length_q(value: float, scale: Scale) -> Quantity:
    return Quantity(value, scale.length_unit)


def measure_length(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Length of a line ``{"line": [a, b]}``: Euclidean distance in physical space."""
    a, b = (scale.to_space(p) for p in _points(inp.get("line"), "line", exact=2))
    return Result(
        "length",
        {"length": _length_q(math.dist(a, b), scale)},
        scale.calibrated,
        scale.source,
    )


def measure_angle(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Angle at ``vertex`` between the arms to ``arm1`` and ``arm2``, 0-180 degrees."""
    v = scale.to_space(_point(inp.get("vertex"), "vertex"))
    a = scale.to_space(_point(inp.get("arm1"), "arm1"))
    b = scale.to_space(_point(inp.get("arm2"), "arm2"))
    deg = angle_between(_sub(a, v), _sub(b, v))
    return Result("angle", {"angle": Quantity(deg, Unit.DEG)}, True, scale.source)


def measure_cobb(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Cobb angle: acute angle (0-90 degrees) between two lines (Cobb 1948)."""
    l1 = [scale.to_space(p) for p in _points(inp.get("line1"), "line1", exact=2)]
    l2 = [scale.to_space(p) for p in _points(inp.get("line2"), "line2", exact=2)]
    deg = line_angle(_sub(l1[1], l1[0]), _sub(l2[1], l2[0]))
    return Result("cobb", {"angle": Quantity(deg, Unit.DEG)}, True, scale.source)


def _roi(inp: Mapping[str, Any], scale: Scale, tool: str) -> Result:
    (c1, r1), (c2, r2) = _points(inp.get("corners"), "corners", exact=2)
    c0, c_max, r0, r_max = min(c1, c2), max(c1, c2), min(r1, r2), max(r1, r2)
    w, h = c_max - c0, r_max - r0
    if w <= 0 or h <= 0:
        raise GeometryError("zero_area", f"the {tool} has zero width or height")
    cx, cy, a, b = (c0 + c_max) / 2, (r0 + r_max) / 2, w / 2, h / 2
    if tool == "ellipse_roi":
        area = math.pi * (a * scale.column_mm) * (b * scale.row_mm)

        def inside(c: float, r: float) -> bool:
            return ((c - cx) / a) ** 2 + ((r - cy) / b) ** 2 <= 1.0 + 1e-12

    else:
        area = (w * scale.column_mm) * (h * scale.row_mm)

        def inside(c: float, r: float) -> bool:
            return c0 <= c <= c_max and r0 <= r <= r_max

    values: dict[str, Quantity] = {"area": Quantity(area, scale.area_unit)}
    pixels = inp.get("pixels")
    if pixels is not None:
        sample = _pixel_sample(pixels, inside)
        if not sample:
            raise GeometryError("empty_roi", "no pixel centre lies inside the region")
        vu = str(inp.get("value_unit") or "pixel_value")
        n = len(sample)
        mean = sum(sample) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in sample) / n)
        values.update(
            mean=Quantity(mean, vu),
            sd=Quantity(sd, vu),
            min=Quantity(min(sample), vu),
            max=Quantity(max(sample), vu),
            pixel_count=Quantity(float(n), Unit.COUNT),
        )
    return Result(tool, values, scale.calibrated, scale.source)


def _pixel_sample(pixels: Any, inside: Callable[[float, float], bool]) -> list[float]:
    if not isinstance(pixels, Mapping):
        raise GeometryError("invalid_input", "pixels must be {origin: [c, r], values: [[...]]}")
    c0, r0 = _point(pixels.get("origin", [0, 0]), "pixels.origin")
    rows = pixels.get("values")
    if not isinstance(rows, Sequence):
        raise GeometryError("invalid_input", "pixels.values must be a list of rows")
    out: list[float] = []
    for j, row in enumerate(rows):
        for i, v in enumerate(row):
            if inside(c0 + i, r0 + j):
                out.append(float(v))
    return out


def measure_ellipse_roi(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Axis-aligned ellipse in its bounding box ``corners``: area and pixel statistics.

    A pixel belongs to the region when its centre satisfies ``((c-cx)/a)^2 + ((r-cy)/b)^2 <= 1``.
    Statistics (mean, population sd, min, max, count) are over the given ``pixels`` (modality
    values, e.g. Hounsfield units after the Modality LUT, PS3.3 C.11.1); area is geometric,
    ``pi a b``.
    """
    return _roi(inp, scale, "ellipse_roi")


def measure_rectangle_roi(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Axis-aligned rectangle between ``corners``: area ``w h`` and statistics of pixel centres inside."""
    return _roi(inp, scale, "rectangle_roi")


def measure_circle(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Circle fitted to ``rim`` points (Kåsa): radius, diameter, and centre in pixel coordinates."""
    rim = [scale.to_space(p) for p in _points(inp.get("rim"), "rim", minimum=3)]
    c = fit_circle(rim)
    col, row = scale.to_pixels((c.cx, c.cy))
    return Result(
        "circle",
        {
            "radius": _length_q(c.r, scale),
            "diameter": _length_q(2 * c.r, scale),
            "center_column": Quantity(col, Unit.PX),
            "center_row": Quantity(row, Unit.PX),
            "rms_residual": _length_q(c.rms, scale),
        },
        scale.calibrated,
        scale.source,
    )


def calibration_scale(inp: Mapping[str, Any], scale: Scale) -> Result:
    """A user calibration line of ``known_mm``: the resulting millimetres per pixel."""
    mm = user_mm_per_pixel(inp)
    return Result(
        "calibration",
        {"mm_per_pixel": Quantity(mm, Unit.MM_PER_PX)},
        True,
        CalibrationSource.USER,
    )


# VHS reference ranges: mean +- SD in vertebrae. Entries marked verify=True were quoted from
# secondary sources and must be checked against the paper before being relied on clinically.
VHS_REFERENCES: dict[str, dict[str, dict[str, Any]]] = {
    "dog": {
        "": {
            "mean": 9.7,
            "sd": 0.5,
            "low": 8.7,
            "high": 10.7,
            "source": "Buchanan JW, Bücheler J. JAVMA 1995;206(2):194-199 (n=100)",
            "verify": False,
        },
        "cavalier_king_charles_spaniel": {
            "mean": 10.6,
            "sd": 0.5,
            "source": "Lamb CR et al. J Small Anim Pract 2001;42(11):541-545",
            "verify": False,
        },
        "boxer": {
            "mean": 11.6,
            "sd": 0.8,
            "source": "Lamb CR et al. J Small Anim Pract 2001;42(11):541-545",
            "verify": False,
        },
        "labrador_retriever": {
            "mean": 10.8,
            "sd": 0.6,
            "source": "Lamb CR et al. J Small Anim Pract 2001;42(11):541-545",
            "verify": False,
        },
        "german_shepherd": {
            "mean": 9.7,
            "sd": 0.7,
            "source": "Lamb CR et al. J Small Anim Pract 2001;42(11):541-545",
            "verify": True,
        },
        "doberman_pinscher": {
            "mean": 10.0,
            "sd": 0.6,
            "source": "Lamb CR et al. J Small Anim Pract 2001;42(11):541-545",
            "verify": True,
        },
        "yorkshire_terrier": {
            "mean": 9.7,
            "sd": 0.5,
            "source": "Lamb CR et al. J Small Anim Pract 2001;42(11):541-545",
            "verify": True,
        },
        "whippet": {
            "mean": 11.0,
            "sd": 0.5,
            "source": "Bavegems V et al. Vet Radiol Ultrasound 2005;46(5):400-403",
            "verify": True,
        },
        "pug": {
            "mean": 10.7,
            "sd": 0.9,
            "source": "Jepsen-Grant K et al. Vet Radiol Ultrasound 2013;54(4):390-395",
            "verify": True,
        },
        "boston_terrier": {
            "mean": 11.7,
            "sd": 1.4,
            "source": "Jepsen-Grant K et al. Vet Radiol Ultrasound 2013;54(4):390-395",
            "verify": True,
        },
        "english_bulldog": {
            "mean": 12.7,
            "sd": 1.7,
            "source": "Jepsen-Grant K et al. Vet Radiol Ultrasound 2013;54(4):390-395",
            "verify": True,
        },
    },
    "cat": {
        "": {
            "mean": 7.5,
            "sd": 0.3,
            "low": 6.7,
            "high": 8.1,
            "source": "Litster AL, Buchanan JW. JAVMA 2000;216(2):210-214 (n=100)",
            "verify": False,
        },
    },
}


def vhs_reference(species: str, breed: str | None) -> dict[str, Any]:
    """The VHS reference for a species and breed (breed first, else the species range).

    ``low``/``high`` default to mean +- 2 SD when the paper gives no explicit range.
    """
    table = VHS_REFERENCES.get(species)
    if table is None:
        raise GeometryError("invalid_input", "species must be 'dog' or 'cat'")
    key = (breed or "").strip().lower().replace(" ", "_").replace("-", "_")
    ref = dict(table.get(key) or table[""])
    ref["breed"] = key if key in table else ""
    ref.setdefault("low", round_tenth(ref["mean"] - 2 * ref["sd"]))
    ref.setdefault("high", round_tenth(ref["mean"] + 2 * ref["sd"]))
    return ref


def measure_vhs(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Vertebral heart score: VU(long axis) + VU(short axis), each rounded to 0.1 vertebra.

    Dog: Buchanan and Bücheler 1995 (JAVMA 206:194); cat: Litster and Buchanan 2000 (JAVMA
    216:210). Long axis from the ventral border of the left main stem bronchus (carina) to the
    cardiac apex, short axis perpendicular to it at the widest point; both transposed onto the
    vertebral ladder from the cranial edge of T4. The result carries the reference range for the
    species (and breed, where published) and ``interpretation`` below/within/above it.
    """
    species = str(inp.get("species") or "dog")
    breed = inp.get("breed")
    ladder = [scale.to_space(p) for p in _points(inp.get("ladder"), "ladder", minimum=2)]
    axes = {}
    warnings = []
    for name in ("long_axis", "short_axis"):
        a, b = (scale.to_space(p) for p in _points(inp.get(name), name, exact=2))
        length = math.dist(a, b)
        if length <= 0:
            raise GeometryError("zero_length", f"{name} has zero length")
        vu, extrapolated = vertebral_units(length, ladder)
        if extrapolated:
            warnings.append(f"{name}_beyond_ladder")
        axes[name] = (length, vu)
    long_vu = round_tenth(axes["long_axis"][1])
    short_vu = round_tenth(axes["short_axis"][1])
    vhs = round_tenth(long_vu + short_vu)
    ref = vhs_reference(species, breed if isinstance(breed, str) else None)
    interpretation = "below" if vhs < ref["low"] else "above" if vhs > ref["high"] else "within"
    return Result(
        "vhs",
        {
            "vhs": Quantity(vhs, Unit.VERTEBRAE),
            "long_axis_vertebrae": Quantity(long_vu, Unit.VERTEBRAE),
            "short_axis_vertebrae": Quantity(short_vu, Unit.VERTEBRAE),
            "long_axis_length": _length_q(axes["long_axis"][0], scale),
            "short_axis_length": _length_q(axes["short_axis"][0], scale),
        },
        True,
        scale.source,
        tuple(warnings),
        {"species": species, "reference": ref, "interpretation": interpretation},
    )


VLAS_CUTOFF = 2.3  # Malcolm et al. 2018: VLAS >= 2.3 predicted left atrial enlargement in MMVD.


def measure_vlas(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Vertebral left atrial size: VU of the carina-to-left-atrium line, rounded to 0.1.

    Malcolm EL et al. JAVMA 2018;253(8):1038-1045 (dogs with MMVD): from the centre of the ventral
    border of the carina to the caudal border of the left atrium where it meets the dorsal border
    of the caudal vena cava, transposed from the cranial edge of T4. ``>= 2.3`` suggests left
    atrial enlargement.
    """
    ladder = [scale.to_space(p) for p in _points(inp.get("ladder"), "ladder", minimum=2)]
    a, b = (scale.to_space(p) for p in _points(inp.get("axis"), "axis", exact=2))
    length = math.dist(a, b)
    if length <= 0:
        raise GeometryError("zero_length", "the VLAS line has zero length")
    vu, extrapolated = vertebral_units(length, ladder)
    vlas = round_tenth(vu)
    return Result(
        "vlas",
        {"vlas": Quantity(vlas, Unit.VERTEBRAE), "length": _length_q(length, scale)},
        True,
        scale.source,
        ("axis_beyond_ladder",) if extrapolated else (),
        {
            "cutoff": VLAS_CUTOFF,
            "interpretation": "enlarged" if vlas >= VLAS_CUTOFF else "normal",
            "source": "Malcolm EL et al. JAVMA 2018;253(8):1038-1045",
        },
    )


NORBERG_NORMAL_MIN = 105.0


def _norberg_reading(angle: float) -> str:
    """Normal when the angle, rounded to 0.1 degree as displayed, is at least 105 degrees."""
    return "normal" if round_tenth(angle) >= NORBERG_NORMAL_MIN else "reduced"


def measure_norberg(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Norberg angle of each hip on a ventrodorsal hip-extended view.

    Each femoral head centre is a Kåsa circle fit of its rim points; at each centre, the angle
    between the line to the other head's centre and the line to that side's craniodorsal
    acetabular rim point (after Norberg, in Olsson 1961; FCI scheme: >= 105 degrees is normal).
    """
    lc = fit_circle(
        [scale.to_space(p) for p in _points(inp.get("left_head_rim"), "left_head_rim", minimum=3)]
    )
    rc = fit_circle(
        [scale.to_space(p) for p in _points(inp.get("right_head_rim"), "right_head_rim", minimum=3)]
    )
    la = scale.to_space(_point(inp.get("left_acetabular_rim"), "left_acetabular_rim"))
    ra = scale.to_space(_point(inp.get("right_acetabular_rim"), "right_acetabular_rim"))
    left_c, right_c = (lc.cx, lc.cy), (rc.cx, rc.cy)
    if math.dist(left_c, right_c) == 0:
        raise GeometryError("zero_length", "the two femoral head centres coincide")
    left = angle_between(_sub(right_c, left_c), _sub(la, left_c))
    right = angle_between(_sub(left_c, right_c), _sub(ra, right_c))
    lpx, rpx = scale.to_pixels(left_c), scale.to_pixels(right_c)
    return Result(
        "norberg",
        {
            "left_angle": Quantity(left, Unit.DEG),
            "right_angle": Quantity(right, Unit.DEG),
            "left_head_radius": _length_q(lc.r, scale),
            "right_head_radius": _length_q(rc.r, scale),
        },
        True,
        scale.source,
        (),
        {
            "left_center": [lpx[0], lpx[1]],
            "right_center": [rpx[0], rpx[1]],
            "normal_min": NORBERG_NORMAL_MIN,
            "left_interpretation": _norberg_reading(left),
            "right_interpretation": _norberg_reading(right),
        },
    )


def measure_tpa(inp: Mapping[str, Any], scale: Scale) -> Result:
    """Tibial plateau angle: plateau line against the perpendicular to the tibial functional axis.

    Slocum B, Devine T. JAVMA 1983;183(4):456-459 (cranial tibial thrust); TPLO, Slocum and
    Slocum 1993 (Vet Clin North Am 23:777). ``plateau`` is [cranial, caudal] margin of the medial
    tibial condyle; ``axis`` is [intercondylar eminences, centre of the talus]. With ``d`` the
    unit axis direction (proximal to distal) and ``p`` the plateau vector (cranial to caudal),
    ``TPA = atan2(p . d, |p x d|)``: positive when the caudal margin lies distal to the
    perpendicular, as in the normal caudodistal slope.
    """
    cr, ca = (scale.to_space(p) for p in _points(inp.get("plateau"), "plateau", exact=2))
    px, ds = (scale.to_space(p) for p in _points(inp.get("axis"), "axis", exact=2))
    p, d = _sub(ca, cr), _sub(ds, px)
    if math.hypot(*p) == 0:
        raise GeometryError("zero_length", "the plateau line has zero length")
    if math.hypot(*d) == 0:
        raise GeometryError("zero_length", "the functional axis has zero length")
    dn = math.hypot(*d)
    d = (d[0] / dn, d[1] / dn)
    tpa = math.degrees(math.atan2(_dot(p, d), abs(_cross(p, d))))
    return Result("tpa", {"tpa": Quantity(tpa, Unit.DEG)}, True, scale.source)


def measure_distraction_index(inp: Mapping[str, Any], scale: Scale) -> Result:
    """PennHIP distraction index: distance between the acetabulum and femoral head centres / head radius.

    Smith GK, Biery DN, Gregor TP. JAVMA 1990;196(1):59-70. Both centres from Kåsa circle fits of
    rim points on the distraction view. Unitless; DI < 0.3 is tight, larger DI means more laxity.
    """
    head = fit_circle(
        [scale.to_space(p) for p in _points(inp.get("femoral_head_rim"), "femoral_head_rim", minimum=3)]
    )
    acet = fit_circle(
        [scale.to_space(p) for p in _points(inp.get("acetabulum_rim"), "acetabulum_rim", minimum=3)]
    )
    offset = math.dist((head.cx, head.cy), (acet.cx, acet.cy))
    return Result(
        "distraction_index",
        {
            "di": Quantity(offset / head.r, Unit.RATIO),
            "center_offset": _length_q(offset, scale),
            "femoral_head_radius": _length_q(head.r, scale),
            "acetabulum_radius": _length_q(acet.r, scale),
        },
        True,
        scale.source,
        (),
        {"side": str(inp.get("side") or "")},
    )


def _annotation(tool: str) -> Callable[[Mapping[str, Any], Scale], Result]:
    def compute(inp: Mapping[str, Any], scale: Scale) -> Result:
        for name in ("start", "end", "anchor"):
            if name in inp:
                _point(inp[name], name)
        return Result(tool, {}, True, scale.source)

    return compute


TOOLS: dict[str, Callable[[Mapping[str, Any], Scale], Result]] = {
    "length": measure_length,
    "angle": measure_angle,
    "cobb": measure_cobb,
    "ellipse_roi": measure_ellipse_roi,
    "rectangle_roi": measure_rectangle_roi,
    "circle": measure_circle,
    "calibration": calibration_scale,
    "vhs": measure_vhs,
    "vlas": measure_vlas,
    "norberg": measure_norberg,
    "tpa": measure_tpa,
    "distraction_index": measure_distraction_index,
    "arrow": _annotation("arrow"),
    "text": _annotation("text"),
}


def compute(tool: str, points: Mapping[str, Any], calibration: Mapping[str, Any] | None = None) -> Result:
    """Compute ``tool`` from its point set and the image calibration (the shared-vector entry point)."""
    fn = TOOLS.get(tool)
    if fn is None:
        raise GeometryError("unknown_tool", f"unknown tool {tool!r}")
    if not isinstance(points, Mapping):
        raise GeometryError("invalid_input", "points must be an object")
    return fn(points, scale_from(calibration))
