"""The ``models`` table: GGUF files the user added or pulled, by name."""

from __future__ import annotations

from ragterm.store.db import Connection


def list_models(conn: Connection) -> list[tuple[str, str, str, str | None]]:
    """(name, path, source, repo) of every registered model, by name."""
    rows = conn.execute("SELECT name, path, source, repo FROM models ORDER BY name").fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def model_path(conn: Connection, name: str) -> str | None:
    row = conn.execute("SELECT path FROM models WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def save_model(conn: Connection, name: str, path: str, source: str, repo: str | None) -> None:
    conn.execute(
        "INSERT INTO models(name, path, source, repo) VALUES(?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET path=excluded.path, source=excluded.source, "
        "repo=excluded.repo",
        (name, path, source, repo),
    )


def delete_model(conn: Connection, name: str) -> None:
    conn.execute("DELETE FROM models WHERE name = ?", (name,))
