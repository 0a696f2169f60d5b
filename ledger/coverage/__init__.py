"""Coverage: which items of a reporting framework the records of a model's package hold.

A framework (TRIPOD+AI, the EU AI Act, ...) is a data file in ``frameworks/``: its items, each
with the record fields that hold it (``framework.schema.json`` says how). ``frameworks`` reads
and checks those files; ``assess`` finds each item met, partial, missing or not applicable in
the records of one model version and what it links to. ``docs/coverage.md`` explains both.
"""

from __future__ import annotations

from pathlib import Path

#: ``--framework all``.
ALL = "all"
#: The framework data files, one per framework, named by its id.
FOLDER = Path(__file__).parent / "frameworks"


def names() -> list[str]:
    """The frameworks ledger knows, by the name ``--framework`` takes (listed without reading
    them: the command line offers them as choices)."""
    return sorted(p.stem for p in FOLDER.iterdir() if p.suffix == ".json" and p.stem[:1] != ".")
