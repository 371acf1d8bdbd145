"""The shared harness (../shared/bench/bench.py) plus the owner queries our issues name.

The harness measures C-FIND and QIDO-RS on patient name, date, accession, patient ID and species.
The archive and DICOMweb issues also ask for *owner* queries (Responsible Person, which Orthanc does
not index); this adds two to the same run, on the same data, for every target:
``owner_exact`` (the owner with the most studies) and ``owner_wildcard`` (a 3-letter family-name
prefix matching about 25 studies). Run through ``benchmarks/run.sh``; arguments are bench.py's.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections import Counter
from typing import Any

sys.path.insert(0, os.environ["BENCH_DIR"])
import bench  # type: ignore[import-not-found]

_standard = bench.pick_queries


def pick_queries(man_q: dict[str, Any], man_i: dict[str, Any]) -> list[dict[str, Any]]:
    """The harness's queries, then the two owner queries."""
    queries: list[dict[str, Any]] = _standard(man_q, man_i)
    studies = man_q["studies"] + man_i["studies"]
    owner, n_owner = sorted(Counter(s["owner"] for s in studies).items(), key=lambda kv: (-kv[1], kv[0]))[0]
    prefixes = sorted({s["owner"][:3] for s in studies if s["owner"][:3].isalpha()})

    def n_prefix(p: str) -> int:
        return sum(1 for s in studies if fnmatch.fnmatchcase(s["owner"].upper(), f"{p}*"))

    best = min(prefixes, key=lambda p: (abs(n_prefix(p) - 25), p))
    queries += [
        {"name": "owner_exact", "keys": {"ResponsiblePerson": owner}, "expected": n_owner},
        {"name": "owner_wildcard", "keys": {"ResponsiblePerson": f"{best}*"}, "expected": n_prefix(best)},
    ]
    return queries


bench.pick_queries = pick_queries
for proto in ("cfind", "qido"):
    species = f"{proto}_species_equine_nonindexed_ms"
    at = next(i for i, row in enumerate(bench.TABLE_ROWS) if row[1] == species)
    owner_rows = [("query", f"{proto}_owner_exact_ms"), ("query", f"{proto}_owner_wildcard_ms")]
    bench.TABLE_ROWS[at + 1 : at + 1] = owner_rows

if __name__ == "__main__":
    sys.exit(bench.main(sys.argv[1:]))
