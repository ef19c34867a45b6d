"""The SQLite backend of the store (the embedded default)."""
