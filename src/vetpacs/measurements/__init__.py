"""Measurements and annotations on images: geometry, storage, recomputation and DICOM SR export.

``geometry`` is the one place where a measured value is computed from points (the browser viewer
implements the same definitions in TypeScript against ``tests/data/measurement_vectors.json``).
See ``docs/measurements.md`` for definitions, formulas and references.
"""
