"""The collector pauses of ``ledger.bulk``: a library caller keeps its collector as it was; the
command line freezes what a bulk phase built, and forking workers does not thaw it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = """
import gc
from ledger import bulk
from ledger.workers import Workers

if {freezing}:
    bulk.freeze_after_bulk()
gc.enable()
with bulk.quiet_gc():
    assert not gc.isenabled()
    built = [[i] for i in range(50_000)]
assert gc.isenabled()
after_block = gc.get_freeze_count()
with Workers(2) as pool:
    assert list(pool.map(abs, [-1, -2])) == [1, 2]
print(after_block, gc.get_freeze_count())
"""


def _freeze_counts(freezing: bool) -> tuple[int, int]:
    code = textwrap.dedent(SCRIPT.format(freezing=freezing))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    block, workers = done.stdout.split()
    return int(block), int(workers)


def test_a_library_caller_keeps_its_collector_as_it_was() -> None:
    assert _freeze_counts(freezing=False) == (0, 0)


def test_the_command_line_freezes_what_a_bulk_phase_built_and_workers_keep_it_frozen() -> None:
    block, workers = _freeze_counts(freezing=True)
    assert block >= 50_000 and workers >= block
