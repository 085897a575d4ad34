"""Storage: one SQLite database (WAL) with sqlite-vec, migrations, and a repository module per table family."""
