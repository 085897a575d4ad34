"""Storage: one SQLite database (WAL) with sqlite-vec, migrations, a repository per table family."""
