"""Billing: the fee list, charges posted from performed procedures, voids and the missed-charge report."""
