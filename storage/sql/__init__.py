"""The SQL every backend runs: one implementation of each query, through `storage.sql.db`."""
