"""``python -m ledger``: the same command as ``ledger``."""

from ledger.cli import main

main()
