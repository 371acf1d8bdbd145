"""The archive: a clean DICOM store (ingest, index, query, retrieve). It knows nothing of orders."""
