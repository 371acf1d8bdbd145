"""DIMSE transport only: the AE, its presentation contexts, TLS, and one thin handler per event."""
