"""HTTP transport only (FastAPI): health now; REST API, DICOMweb and UI pages build on it."""
