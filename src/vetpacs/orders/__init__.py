"""Procedure catalog, orders, scheduled procedure steps, worklist, MPPS and reconciliation."""
