"""The geometry module against the shared vectors, plus property tests of its constructions."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from measurement_images import assert_close  # type: ignore[import-not-found]
from vetpacs.measurements import geometry
from vetpacs.measurements.geometry import GeometryError, compute, fit_circle, vertebral_units

VECTORS = json.loads(
    (Path(__file__).parents[1] / "data" / "measurement_vectors.json").read_text(encoding="utf-8")
)
CASES = VECTORS["cases"]


def test_vectors_schema() -> None:
    assert VECTORS["schema_version"] == 1
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    tools = {c["tool"] for c in CASES}
    assert set(geometry.TOOLS) <= tools | {"text"}
    for c in CASES:
        assert set(c) == {"id", "tool", "description", "input", "expected", "tolerance"}
        assert set(c["input"]) == {"points", "calibration"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_shared_vector(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if "error" in expected:
        with pytest.raises(GeometryError) as info:
            compute(case["tool"], case["input"]["points"], case["input"]["calibration"])
        assert info.value.code == expected["error"]
        return
    result = compute(case["tool"], case["input"]["points"], case["input"]["calibration"]).to_json()
    if "values" in expected:
        assert set(expected["values"]) <= set(result["values"])
    expected_warnings = expected.get("warnings", [])
    assert result["warnings"] == expected_warnings
    assert_close(result, {k: v for k, v in expected.items() if k != "warnings"}, case["tolerance"], "")


@pytest.mark.parametrize("seed", range(20))
def test_circle_fit_recovers_random_circle(seed: int) -> None:
    rng = random.Random(seed)
    cx, cy, r = rng.uniform(-500, 3000), rng.uniform(-500, 3000), rng.uniform(2, 400)
    start = rng.uniform(0, 360)
    span = rng.uniform(60, 360)
    n = rng.randint(3, 30)
    angles = [math.radians(start + span * i / n) for i in range(n)]
    circle = fit_circle([(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles])
    assert circle.cx == pytest.approx(cx, abs=1e-6 * max(1.0, r))
    assert circle.cy == pytest.approx(cy, abs=1e-6 * max(1.0, r))
    assert circle.r == pytest.approx(r, rel=1e-7)


def test_circle_fit_with_noise_stays_close() -> None:
    rng = random.Random(7)
    pts = []
    for i in range(40):
        a = math.radians(9 * i)
        pts.append((250 + 80 * math.cos(a) + rng.gauss(0, 0.5), 300 + 80 * math.sin(a) + rng.gauss(0, 0.5)))
    circle = fit_circle(pts)
    assert math.dist((circle.cx, circle.cy), (250, 300)) < 0.5
    assert abs(circle.r - 80) < 0.5
    assert 0.2 < circle.rms < 1.0


def test_circle_fit_nearly_collinear_is_rejected() -> None:
    with pytest.raises(GeometryError, match="collinear"):
        fit_circle([(0, 0), (100, 1e-9), (200, 0)])


@pytest.mark.parametrize("angle", [90.0, 100.0, 105.0, 112.5, 130.0])
@pytest.mark.parametrize("rotation", [0.0, 17.0, 90.0, 200.0])
def test_norberg_known_construction(angle: float, rotation: float) -> None:
    def place(x: float, y: float) -> list[float]:
        c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        return [1000 + x * c - y * s, 800 + x * s + y * c]

    def rim(cx: float, cy: float, r: float) -> list[list[float]]:
        return [
            place(cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a)))
            for a in range(0, 360, 45)
        ]

    left_rim = place(-150 + 40 * math.cos(math.radians(angle)), -40 * math.sin(math.radians(angle)))
    right_rim = place(150 - 40 * math.cos(math.radians(angle)), -40 * math.sin(math.radians(angle)))
    result = compute(
        "norberg",
        {
            "left_head_rim": rim(-150, 0, 30),
            "right_head_rim": rim(150, 0, 30),
            "left_acetabular_rim": left_rim,
            "right_acetabular_rim": right_rim,
        },
    )
    assert result.values["left_angle"].value == pytest.approx(angle, abs=1e-6)
    assert result.values["right_angle"].value == pytest.approx(angle, abs=1e-6)
    assert result.extra["left_interpretation"] == ("normal" if angle >= 105 else "reduced")


def test_vertebral_units_walk() -> None:
    ladder = [(0.0, 0.0), (10.0, 0.0), (30.0, 0.0)]
    assert vertebral_units(0.0, ladder) == (0.0, False)
    assert vertebral_units(10.0, ladder) == (1.0, False)
    assert vertebral_units(20.0, ladder) == (1.5, False)
    assert vertebral_units(30.0, ladder) == (2.0, False)
    assert vertebral_units(50.0, ladder) == (3.0, True)


def test_round_tenth_is_half_up() -> None:
    assert geometry.round_tenth(0.25) == 0.3
    assert geometry.round_tenth(-0.25) == -0.2
    assert geometry.round_tenth(9.94999) == 9.9


def test_vhs_reference_defaults_to_species() -> None:
    ref = geometry.vhs_reference("dog", "unknown breed")
    assert ref["breed"] == "" and ref["mean"] == 9.7
    with pytest.raises(GeometryError):
        geometry.vhs_reference("horse", None)


def test_every_reference_cites_a_source() -> None:
    for species in geometry.VHS_REFERENCES.values():
        for ref in species.values():
            assert ref["source"] and isinstance(ref["verify"], bool)
