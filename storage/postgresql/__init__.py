"""PostgreSQL behind the store interface: asyncpg, a pool, several daemons sharing the work."""
