"""Sign-offs: signed, append-only statements that a person reviewed, approved, released or
rejected one record version (``ledger sign``), checked by ``verify`` (rules L804-L810)."""
