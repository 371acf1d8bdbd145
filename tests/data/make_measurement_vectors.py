"""Write ``measurement_vectors.json``: shared geometry test vectors with analytically known answers.

Run ``python tests/data/make_measurement_vectors.py``. Expected values come from the constructions
here (exact circles, chosen angles, whole-segment ladders), never from ``geometry.py`` itself.
Schema: docs/measurements.md, "Shared test vectors".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("measurement_vectors.json")
TOL = 1e-6


def on_circle(cx: float, cy: float, r: float, degrees: list[float]) -> list[list[float]]:
    """Points on a circle at the given angles (x right, y down)."""
    return [[cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a))] for a in degrees]


def v(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit}


PS = {"pixel_spacing": [0.2, 0.1], "imager_pixel_spacing": None, "user": None}
NONE: dict[str, Any] = {"pixel_spacing": None, "imager_pixel_spacing": None, "user": None}
GRID = [[10 * r + c for c in range(5)] for r in range(3)]
LADDER20 = [[500 + 20 * i, 300] for i in range(11)]

cases: list[dict[str, Any]] = []


def case(
    id_: str,
    tool: str,
    points: dict[str, Any],
    calibration: dict[str, Any] | None,
    expected: dict[str, Any],
    description: str,
    tolerance: float = TOL,
) -> None:
    cases.append(
        {
            "id": id_,
            "tool": tool,
            "description": description,
            "input": {"points": points, "calibration": calibration},
            "expected": expected,
            "tolerance": tolerance,
        }
    )


def ok(values: dict[str, Any], calibrated: bool, source: str, **more: Any) -> dict[str, Any]:
    return {"values": values, "calibrated": calibrated, "calibration_source": source, **more}


def err(code: str) -> dict[str, Any]:
    return {"error": code}


# --- length and calibration ---------------------------------------------------------------------
case(
    "length-pixel-spacing-anisotropic",
    "length",
    {"line": [[0, 0], [30, 40]]},
    PS,
    ok({"length": v(math.sqrt(73), "mm")}, True, "pixel_spacing"),
    "Pixel Spacing [row 0.2, col 0.1]: dx = 3 mm, dy = 8 mm",
)
case(
    "length-imager-pixel-spacing-only",
    "length",
    {"line": [[10, 10], [40, 50]]},
    {"pixel_spacing": None, "imager_pixel_spacing": [0.15, 0.15], "user": None},
    ok({"length": v(7.5, "detector_mm")}, False, "imager_pixel_spacing"),
    "Imager Pixel Spacing alone: 50 px = 7.5 detector mm, never patient mm",
)
case(
    "length-uncalibrated-pixels",
    "length",
    {"line": [[0, 0], [3, 4]]},
    NONE,
    ok({"length": v(5.0, "px")}, False, "none"),
    "no spacing: pixels",
)
case(
    "length-no-calibration-object",
    "length",
    {"line": [[0, 0], [3, 4]]},
    None,
    ok({"length": v(5.0, "px")}, False, "none"),
    "calibration null: pixels",
)
case(
    "length-user-calibration-wins",
    "length",
    {"line": [[0, 0], [60, 80]]},
    {
        "pixel_spacing": [0.1, 0.1],
        "imager_pixel_spacing": None,
        "user": {"line": [[100, 100], [150, 100]], "known_mm": 25},
    },
    ok({"length": v(50.0, "mm")}, True, "user"),
    "25 mm marker spans 50 px -> 0.5 mm/px, overrides Pixel Spacing; 100 px = 50 mm",
)
case(
    "length-user-calibration-over-imager",
    "length",
    {"line": [[0, 0], [0, 10]]},
    {
        "pixel_spacing": None,
        "imager_pixel_spacing": [0.2, 0.2],
        "user": {"line": [[0, 0], [30, 40]], "known_mm": 25},
    },
    ok({"length": v(5.0, "mm")}, True, "user"),
    "user calibration turns detector mm into patient mm: 25 mm / 50 px; 10 px = 5 mm",
)
case(
    "length-pixel-spacing-over-imager",
    "length",
    {"line": [[0, 0], [0, 100]]},
    {"pixel_spacing": [0.1, 0.1], "imager_pixel_spacing": [0.2, 0.2], "user": None},
    ok({"length": v(10.0, "mm")}, True, "pixel_spacing"),
    "Pixel Spacing takes precedence over Imager Pixel Spacing",
)
case(
    "length-zero",
    "length",
    {"line": [[5, 5], [5, 5]]},
    PS,
    ok({"length": v(0.0, "mm")}, True, "pixel_spacing"),
    "a zero-length line is 0, not an error",
)
case(
    "length-invalid-spacing",
    "length",
    {"line": [[0, 0], [1, 1]]},
    {"pixel_spacing": [0, 0.1], "imager_pixel_spacing": None, "user": None},
    err("invalid_calibration"),
    "spacing must be > 0",
)
case(
    "length-user-calibration-zero-line",
    "length",
    {"line": [[0, 0], [1, 1]]},
    {"pixel_spacing": None, "imager_pixel_spacing": None, "user": {"line": [[3, 3], [3, 3]], "known_mm": 25}},
    err("zero_length"),
    "a calibration line of zero length",
)
case("length-bad-point", "length", {"line": [[0, 0]]}, None, err("invalid_input"), "a line needs two points")
case(
    "calibration-25mm-sphere",
    "calibration",
    {"line": [[0, 0], [0, 50]], "known_mm": 25},
    None,
    ok({"mm_per_pixel": v(0.5, "mm/px")}, True, "user"),
    "25 mm over 50 px",
)

# --- angles -------------------------------------------------------------------------------------
case(
    "angle-right",
    "angle",
    {"arm1": [10, 0], "vertex": [0, 0], "arm2": [0, 10]},
    NONE,
    ok({"angle": v(90.0, "deg")}, True, "none"),
    "right angle",
)
case(
    "angle-45",
    "angle",
    {"arm1": [10, 0], "vertex": [0, 0], "arm2": [10, 10]},
    None,
    ok({"angle": v(45.0, "deg")}, True, "none"),
    "45 degrees",
)
case(
    "angle-anisotropic-spacing",
    "angle",
    {"arm1": [10, 0], "vertex": [0, 0], "arm2": [10, 5]},
    PS,
    ok({"angle": v(45.0, "deg")}, True, "pixel_spacing"),
    "anisotropic pixels: (10, 5) px is (1 mm, 1 mm), so 45 degrees (26.57 in pixel space)",
)
case(
    "angle-straight",
    "angle",
    {"arm1": [-5, 0], "vertex": [0, 0], "arm2": [7, 0]},
    None,
    ok({"angle": v(180.0, "deg")}, True, "none"),
    "straight angle",
)
case(
    "angle-zero-arm",
    "angle",
    {"arm1": [0, 0], "vertex": [0, 0], "arm2": [7, 0]},
    None,
    err("zero_length"),
    "an arm of zero length",
)
case(
    "cobb-45",
    "cobb",
    {"line1": [[0, 0], [10, 0]], "line2": [[0, 0], [10, 10]]},
    None,
    ok({"angle": v(45.0, "deg")}, True, "none"),
    "two lines at 45 degrees",
)
case(
    "cobb-direction-independent",
    "cobb",
    {"line1": [[0, 0], [10, 0]], "line2": [[10, 10], [0, 0]]},
    None,
    ok({"angle": v(45.0, "deg")}, True, "none"),
    "line direction does not matter",
)
case(
    "cobb-acute",
    "cobb",
    {"line1": [[0, 0], [10, 0]], "line2": [[50, 50], [49, 50 + math.sqrt(3)]]},
    None,
    ok({"angle": v(60.0, "deg")}, True, "none"),
    "lines at 120 degrees give the acute 60",
)
case(
    "cobb-parallel",
    "cobb",
    {"line1": [[0, 0], [10, 0]], "line2": [[0, 5], [20, 5]]},
    None,
    ok({"angle": v(0.0, "deg")}, True, "none"),
    "parallel lines: 0",
)
case(
    "cobb-zero-line",
    "cobb",
    {"line1": [[0, 0], [0, 0]], "line2": [[0, 5], [20, 5]]},
    None,
    err("zero_length"),
    "a line of zero length",
)

# --- regions ------------------------------------------------------------------------------------
ell_stats = {
    "mean": v(12.0, "pixel_value"),
    "sd": v(math.sqrt(30), "pixel_value"),
    "min": v(2.0, "pixel_value"),
    "max": v(22.0, "pixel_value"),
    "pixel_count": v(7.0, "count"),
}
case(
    "ellipse-roi-pixels",
    "ellipse_roi",
    {"corners": [[0, 0], [4, 2]], "pixels": {"origin": [0, 0], "values": GRID}},
    NONE,
    ok({"area": v(2 * math.pi, "px2"), **ell_stats}, False, "none"),
    "ellipse centre (2,1), a=2, b=1; 7 pixel centres inside; value = 10*row + column",
)
case(
    "ellipse-roi-mm",
    "ellipse_roi",
    {"corners": [[4, 2], [0, 0]], "pixels": {"origin": [0, 0], "values": GRID}},
    {"pixel_spacing": [0.5, 0.5], "imager_pixel_spacing": None, "user": None},
    ok({"area": v(math.pi * 0.5, "mm2"), **ell_stats}, True, "pixel_spacing"),
    "same ellipse, corners swapped, 0.5 mm pixels: area pi * 1 * 0.5 mm2",
)
case(
    "ellipse-roi-geometry-only",
    "ellipse_roi",
    {"corners": [[0, 0], [10, 20]]},
    {"pixel_spacing": None, "imager_pixel_spacing": [0.1, 0.1], "user": None},
    ok({"area": v(math.pi * 0.5 * 1.0, "detector_mm2")}, False, "imager_pixel_spacing"),
    "no pixels given: area only, detector mm2",
)
case(
    "rectangle-roi-hu",
    "rectangle_roi",
    {"corners": [[1, 0], [3, 1]], "pixels": {"origin": [0, 0], "values": GRID}, "value_unit": "HU"},
    NONE,
    ok(
        {
            "area": v(2.0, "px2"),
            "mean": v(7.0, "HU"),
            "sd": v(math.sqrt(154 / 6), "HU"),
            "min": v(1.0, "HU"),
            "max": v(13.0, "HU"),
            "pixel_count": v(6.0, "count"),
        },
        False,
        "none",
    ),
    "pixel centres with 1<=c<=3, 0<=r<=1 (boundary inclusive), population SD",
)
case(
    "rectangle-roi-origin-offset",
    "rectangle_roi",
    {"corners": [[11, 20], [12, 20.5]], "pixels": {"origin": [10, 20], "values": [[5, 7, 9]]}},
    None,
    ok({"mean": v(8.0, "pixel_value"), "pixel_count": v(2.0, "count")}, False, "none"),
    "pixels.origin is the (column, row) of values[0][0]",
)
case(
    "rectangle-roi-zero-area",
    "rectangle_roi",
    {"corners": [[1, 1], [1, 5]]},
    None,
    err("zero_area"),
    "zero width",
)
case(
    "ellipse-roi-empty",
    "ellipse_roi",
    {"corners": [[0.2, 0.2], [0.8, 0.8]], "pixels": {"origin": [0, 0], "values": GRID}},
    None,
    err("empty_roi"),
    "no pixel centre inside the ellipse",
)

# --- circle fit ---------------------------------------------------------------------------------
case(
    "circle-cardinal",
    "circle",
    {"rim": [[60, 40], [50, 50], [40, 40], [50, 30]]},
    None,
    ok(
        {
            "radius": v(10.0, "px"),
            "diameter": v(20.0, "px"),
            "center_column": v(50.0, "px"),
            "center_row": v(40.0, "px"),
            "rms_residual": v(0.0, "px"),
        },
        False,
        "none",
    ),
    "four points on a circle centre (50,40) r=10",
)
case(
    "circle-arc-mm",
    "circle",
    {"rim": on_circle(100, 200, 25, [10, 40, 70, 100, 130])},
    {"pixel_spacing": [0.2, 0.2], "imager_pixel_spacing": None, "user": None},
    ok(
        {
            "radius": v(5.0, "mm"),
            "diameter": v(10.0, "mm"),
            "center_column": v(100.0, "px"),
            "center_row": v(200.0, "px"),
        },
        True,
        "pixel_spacing",
    ),
    "an arc of 120 degrees recovers centre and radius; 25 px * 0.2 = 5 mm",
)
case(
    "circle-three-points",
    "circle",
    {"rim": [[0, 0], [6, 0], [0, 8]]},
    None,
    ok({"radius": v(5.0, "px"), "center_column": v(3.0, "px"), "center_row": v(4.0, "px")}, False, "none"),
    "circumcircle of a 6-8-10 right triangle",
)
case(
    "circle-collinear",
    "circle",
    {"rim": [[0, 0], [1, 1], [2, 2], [3, 3]]},
    None,
    err("collinear_points"),
    "collinear rim points",
)
case(
    "circle-coincident",
    "circle",
    {"rim": [[4, 4], [4, 4], [4, 4]]},
    None,
    err("collinear_points"),
    "coincident rim points",
)
case("circle-too-few", "circle", {"rim": [[0, 0], [1, 1]]}, None, err("too_few_points"), "two rim points")

# --- VHS and VLAS -------------------------------------------------------------------------------
case(
    "vhs-dog-whole-segments",
    "vhs",
    {
        "species": "dog",
        "breed": None,
        "ladder": LADDER20,
        "long_axis": [[100, 100], [100, 206]],
        "short_axis": [[50, 150], [134, 150]],
    },
    {"pixel_spacing": [0.1, 0.1], "imager_pixel_spacing": None, "user": None},
    ok(
        {
            "vhs": v(9.5, "vertebrae"),
            "long_axis_vertebrae": v(5.3, "vertebrae"),
            "short_axis_vertebrae": v(4.2, "vertebrae"),
            "long_axis_length": v(10.6, "mm"),
            "short_axis_length": v(8.4, "mm"),
        },
        True,
        "pixel_spacing",
        extra={"interpretation": "within", "reference": {"mean": 9.7, "low": 8.7, "high": 10.7}},
    ),
    "20 px vertebrae from T4; long 106 px = 5.3, short 84 px = 4.2; VHS 9.5",
)
case(
    "vhs-dog-above",
    "vhs",
    {"species": "dog", "ladder": LADDER20, "long_axis": [[0, 0], [116, 0]], "short_axis": [[0, 0], [0, 104]]},
    None,
    ok({"vhs": v(11.0, "vertebrae")}, True, "none", extra={"interpretation": "above"}),
    "5.8 + 5.2 = 11.0, above the general dog range (Buchanan 9.7 +- 0.5, 8.7-10.7)",
)
case(
    "vhs-cavalier-within",
    "vhs",
    {
        "species": "dog",
        "breed": "Cavalier King Charles Spaniel",
        "ladder": LADDER20,
        "long_axis": [[0, 0], [116, 0]],
        "short_axis": [[0, 0], [0, 104]],
    },
    None,
    ok(
        {"vhs": v(11.0, "vertebrae")},
        True,
        "none",
        extra={
            "interpretation": "within",
            "reference": {"breed": "cavalier_king_charles_spaniel", "mean": 10.6},
        },
    ),
    "the same 11.0 is within the Cavalier range (Lamb 2001: 10.6 +- 0.5)",
)
case(
    "vhs-cat-uneven-ladder",
    "vhs",
    {
        "species": "cat",
        "ladder": [[0, 0], [20, 0], [42, 0], [66, 0], [90, 0]],
        "long_axis": [[0, 10], [50, 10]],
        "short_axis": [[0, 0], [0, 31]],
    },
    None,
    ok(
        {
            "long_axis_vertebrae": v(2.3, "vertebrae"),
            "short_axis_vertebrae": v(1.5, "vertebrae"),
            "vhs": v(3.8, "vertebrae"),
        },
        True,
        "none",
        extra={"interpretation": "below", "reference": {"mean": 7.5, "low": 6.7, "high": 8.1}},
    ),
    "segments 20,22,24,24: 50 = 2 + 8/24 -> 2.3; 31 = 1 + 11/22 = 1.5",
)
case(
    "vhs-anisotropic",
    "vhs",
    {
        "species": "dog",
        "ladder": [[20 * i, 0] for i in range(11)],
        "long_axis": [[0, 0], [0, 53]],
        "short_axis": [[0, 0], [84, 0]],
    },
    PS,
    ok(
        {
            "vhs": v(9.5, "vertebrae"),
            "long_axis_vertebrae": v(5.3, "vertebrae"),
            "short_axis_vertebrae": v(4.2, "vertebrae"),
        },
        True,
        "pixel_spacing",
    ),
    "rows are 0.2 mm, columns 0.1 mm: a 53-row axis is 10.6 mm = 5.3 vertebrae of 2 mm",
)
case(
    "vhs-beyond-ladder",
    "vhs",
    {
        "species": "dog",
        "ladder": [[0, 0], [20, 0], [40, 0]],
        "long_axis": [[0, 0], [50, 0]],
        "short_axis": [[0, 0], [0, 30]],
    },
    None,
    ok(
        {
            "long_axis_vertebrae": v(2.5, "vertebrae"),
            "short_axis_vertebrae": v(1.5, "vertebrae"),
            "vhs": v(4.0, "vertebrae"),
        },
        True,
        "none",
        warnings=["long_axis_beyond_ladder"],
    ),
    "past the last landmark, the last segment length extrapolates (with a warning)",
)
case(
    "vhs-zero-length-axis",
    "vhs",
    {
        "species": "dog",
        "ladder": LADDER20,
        "long_axis": [[10, 10], [10, 10]],
        "short_axis": [[0, 0], [0, 30]],
    },
    None,
    err("zero_length"),
    "zero-length long axis",
)
case(
    "vhs-ladder-too-short",
    "vhs",
    {"species": "dog", "ladder": [[0, 0]], "long_axis": [[0, 0], [50, 0]], "short_axis": [[0, 0], [0, 30]]},
    None,
    err("too_few_points"),
    "a ladder needs T4 and T5 at least",
)
case(
    "vhs-ladder-duplicate",
    "vhs",
    {
        "species": "dog",
        "ladder": [[0, 0], [0, 0], [20, 0]],
        "long_axis": [[0, 0], [50, 0]],
        "short_axis": [[0, 0], [0, 30]],
    },
    None,
    err("zero_length"),
    "two landmarks at the same place",
)
case(
    "vlas-enlarged",
    "vlas",
    {"ladder": LADDER20, "axis": [[0, 0], [46, 0]]},
    None,
    ok({"vlas": v(2.3, "vertebrae")}, True, "none", extra={"interpretation": "enlarged"}),
    "46 px over 20 px vertebrae = 2.3, at the Malcolm 2018 cut-off",
)
case(
    "vlas-normal",
    "vlas",
    {"ladder": LADDER20, "axis": [[0, 0], [24, 32]]},
    {"pixel_spacing": [0.1, 0.1], "imager_pixel_spacing": None, "user": None},
    ok(
        {"vlas": v(2.0, "vertebrae"), "length": v(4.0, "mm")},
        True,
        "pixel_spacing",
        extra={"interpretation": "normal"},
    ),
    "40 px = 2.0 vertebrae",
)
case(
    "vlas-zero-length",
    "vlas",
    {"ladder": LADDER20, "axis": [[3, 3], [3, 3]]},
    None,
    err("zero_length"),
    "zero-length VLAS line",
)

# --- hips and stifle ----------------------------------------------------------------------------
left_rim_pt = [100 + 30 * math.cos(math.radians(105)), 200 - 30 * math.sin(math.radians(105))]
right_rim_pt = [300 - 30 * math.cos(math.radians(95)), 200 - 30 * math.sin(math.radians(95))]
case(
    "norberg-construction",
    "norberg",
    {
        "left_head_rim": on_circle(100, 200, 20, [200, 240, 280, 320, 10]),
        "right_head_rim": on_circle(300, 200, 20, [160, 200, 240, 300, 350, 30]),
        "left_acetabular_rim": left_rim_pt,
        "right_acetabular_rim": right_rim_pt,
    },
    {"pixel_spacing": [0.25, 0.25], "imager_pixel_spacing": None, "user": None},
    ok(
        {
            "left_angle": v(105.0, "deg"),
            "right_angle": v(95.0, "deg"),
            "left_head_radius": v(5.0, "mm"),
            "right_head_radius": v(5.0, "mm"),
        },
        True,
        "pixel_spacing",
        extra={
            "left_center": [100.0, 200.0],
            "right_center": [300.0, 200.0],
            "left_interpretation": "normal",
            "right_interpretation": "reduced",
        },
    ),
    "heads at (100,200) and (300,200), r=20 px; rim points at 105 and 95 degrees",
)
case(
    "norberg-collinear-rim",
    "norberg",
    {
        "left_head_rim": [[0, 0], [1, 0], [2, 0]],
        "right_head_rim": on_circle(300, 200, 20, [0, 90, 180]),
        "left_acetabular_rim": [0, -10],
        "right_acetabular_rim": [300, 170],
    },
    None,
    err("collinear_points"),
    "collinear femoral head rim points",
)
t25 = 40 * math.tan(math.radians(25))
case(
    "tpa-25",
    "tpa",
    {"plateau": [[20, 0], [-20, t25]], "axis": [[0, 0], [0, 100]]},
    None,
    ok({"tpa": v(25.0, "deg")}, True, "none"),
    "axis straight down; caudal margin 40 tan 25 deg below the cranial one",
)


def rot(p: list[float], deg: float) -> list[float]:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return [500 + p[0] * c - p[1] * s, 400 + p[0] * s + p[1] * c]


case(
    "tpa-rotated",
    "tpa",
    {"plateau": [rot([20, 0], 30), rot([-20, t25], 30)], "axis": [rot([0, 0], 30), rot([0, 100], 30)]},
    None,
    ok({"tpa": v(25.0, "deg")}, True, "none"),
    "the same stifle rotated 30 deg and shifted",
)
case(
    "tpa-negative",
    "tpa",
    {"plateau": [[20, 0], [-20, -40 * math.tan(math.radians(5))]], "axis": [[0, 0], [0, 100]]},
    None,
    ok({"tpa": v(-5.0, "deg")}, True, "none"),
    "caudal margin proximal to the perpendicular: negative",
)
case(
    "tpa-zero-axis",
    "tpa",
    {"plateau": [[20, 0], [-20, 10]], "axis": [[0, 0], [0, 0]]},
    None,
    err("zero_length"),
    "zero-length functional axis",
)
case(
    "distraction-index",
    "distraction_index",
    {
        "side": "left",
        "femoral_head_rim": on_circle(200, 200, 25, [0, 60, 120, 180, 240, 300]),
        "acetabulum_rim": on_circle(190, 205, 28, [200, 235, 270, 305, 340]),
    },
    {"pixel_spacing": [0.2, 0.2], "imager_pixel_spacing": None, "user": None},
    ok(
        {
            "di": v(math.sqrt(125) / 25, "ratio"),
            "center_offset": v(math.sqrt(125) * 0.2, "mm"),
            "femoral_head_radius": v(5.0, "mm"),
            "acetabulum_radius": v(5.6, "mm"),
        },
        True,
        "pixel_spacing",
    ),
    "centres 11.18 px apart, head radius 25 px: DI 0.447",
)
case(
    "distraction-index-collinear-acetabulum",
    "distraction_index",
    {
        "femoral_head_rim": on_circle(200, 200, 25, [0, 90, 180]),
        "acetabulum_rim": [[0, 0], [10, 10], [20, 20]],
    },
    None,
    err("collinear_points"),
    "collinear acetabular rim points",
)
case("unknown-tool", "nonsense", {}, None, err("unknown_tool"), "unknown tool name")
case(
    "arrow-annotation",
    "arrow",
    {"start": [1, 2], "end": [30, 40]},
    None,
    ok({}, True, "none"),
    "annotations carry no values",
)

OUT.write_text(json.dumps({"schema_version": 1, "cases": cases}, indent=1, ensure_ascii=False) + "\n")
print(f"wrote {len(cases)} cases to {OUT}")
