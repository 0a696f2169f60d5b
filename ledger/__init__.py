"""ledger: a git-native, file-based audit ledger for healthcare AI development."""

__version__ = "0.1.0"
