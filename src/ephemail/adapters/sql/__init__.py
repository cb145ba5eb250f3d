"""SQL store: SQLAlchemy Core over aiosqlite (embedded default) and asyncpg (scale-out)."""
