"""The timed side of benchmarks/query.py: one query, in a fresh process, on one side.

    python benchmarks/query_worker.py SPEC_JSON OUT_FILE

SPEC_JSON says which side (``mlflow`` or ``ledger``) and the query. The process imports that
side, runs the query once (the first call, cold in this process) and again (the second call,
warm), and writes what it measured and what it found to OUT_FILE as JSON. query.py times the
whole process from outside. This file imports nothing at the top but the standard library, so
a process pays only for the side it times (query.py itself imports ledger, through
generate.py).

Exit codes: 0 done; 3 the installed ledger has no ``Ledger.query``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# MLflow's FileStore answers at most this many runs a page (SEARCH_MAX_RESULTS_THRESHOLD).
MLFLOW_PAGE = 50_000
NO_QUERY = 3


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def mlflow_side(spec: dict[str, Any]) -> dict[str, Any]:
    """MLflow's ``MlflowClient.search_runs``: Run objects, no pandas, every page."""
    started = time.perf_counter()
    from mlflow.tracking import MlflowClient

    imported = time.perf_counter() - started
    client = MlflowClient(tracking_uri=spec["uri"])
    limit: int | None = spec["limit"]

    def search() -> list[Any]:
        found: list[Any] = []
        token: str | None = None
        while True:
            page = client.search_runs(
                [spec["experiment_id"]],
                spec["filter"],
                max_results=min(limit, MLFLOW_PAGE) if limit else MLFLOW_PAGE,
                order_by=[spec["order_by"]] if spec["order_by"] else None,
                page_token=token,
            )
            found.extend(page)
            token = page.token
            if not token or (limit is not None and len(found) >= limit):
                return found[:limit] if limit is not None else found

    first, first_s = timed(search)
    first_done = time.perf_counter()
    column = spec["value_column"]  # "metrics.NAME": the value the query orders by
    metric = column.removeprefix("metrics.") if column else None
    found = {
        "count": len(first),
        "ids": sorted(run.data.tags.get("record", "?") for run in first),
        "values": [run.data.metrics.get(metric) for run in first] if metric else [],
    }
    # Let the first answer go, on both sides, so that the second call starts from the same
    # process minus its answer: warm caches, but not thousands of live objects for Python's
    # garbage collector to walk while the second call allocates its own.
    del first
    second, second_s = timed(search)
    return {
        "import_s": imported,
        "first_s": first_s,
        "second_s": second_s,
        "after_first_s": time.perf_counter() - first_done,
        **found,
        "second_count": len(second),
    }


def row_id(row: dict[str, Any]) -> str | None:
    if not all(key in row for key in ("kind", "name", "version")):
        return None
    return f"{row['kind']}:{row['name']}@{row['version']}"


def ledger_side(spec: dict[str, Any]) -> dict[str, Any]:
    """``Ledger.query`` on an open Ledger: the first call reads the kept state."""
    started = time.perf_counter()
    from ledger.api import Ledger

    imported = time.perf_counter() - started
    if not callable(getattr(Ledger, "query", None)):
        import ledger

        where = Path(ledger.__file__).parent
        print(
            f"query_worker.py: ledger.api.Ledger has no query() in the ledger at {where} "
            f"(version {getattr(ledger, '__version__', '?')}); the ledger side of this benchmark "
            "needs the query API: Ledger.query(filter, order_by=, limit=, columns=, rev=, "
            "all_versions=) returning an object with .rows",
            file=sys.stderr,
        )
        sys.exit(NO_QUERY)

    def query(book: Any) -> list[dict[str, Any]]:
        result = book.query(
            spec["filter"],
            order_by=spec["order_by"],
            limit=spec["limit"],
            columns=spec["columns"],
            rev="HEAD",
            all_versions=True,
        )
        return list(result.rows)

    column = spec["value_column"]
    opening = time.perf_counter()
    with Ledger.open(spec["repo"]) as book:
        opened = time.perf_counter() - opening
        first, first_query_s = timed(lambda: query(book))
        first_done = time.perf_counter()
        ids = [row_id(row) for row in first]
        found = {
            "count": len(first),
            "ids": sorted(i for i in ids if i is not None) if None not in ids else None,
            "values": [row.get(column) for row in first] if column else [],
            "keys": sorted(first[0]) if first else [],
        }
        del first  # as on MLflow's side: the second call starts with the first answer gone
        second, second_s = timed(lambda: query(book))
    return {
        "import_s": imported,
        "open_s": opened,
        "first_s": opened + first_query_s,  # open and first query: reading the state included
        "second_s": second_s,
        "after_first_s": time.perf_counter() - first_done,
        **found,
        "second_count": len(second),
    }


def main(argv: Sequence[str]) -> int:
    spec, out = json.loads(argv[0]), Path(argv[1])
    result = mlflow_side(spec) if spec["side"] == "mlflow" else ledger_side(spec)
    out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
