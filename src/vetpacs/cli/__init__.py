"""Command line: serve, demo, import, verify, modality, db, config."""
