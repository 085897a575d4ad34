"""The schema, as an ordered list of migrations; ``PRAGMA user_version`` counts those applied.

Never edit a released migration: add ``m00N_…`` at the end. Each runs in its own transaction,
so a crash mid-upgrade leaves the previous version intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ragterm.errors import StorageError
from ragterm.store.tx import Connection, transaction


def run_script(conn: Connection, script: str) -> None:
    """Run SQL statements one by one: ``executescript`` would commit the migration's transaction."""

    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""
    if pending.strip():
        conn.execute(pending)


def m001_init(conn: Connection) -> None:
    """Settings the database must remember, registered models, and chat history."""
    run_script(
        conn,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE models (
            name TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            source TEXT NOT NULL,            -- added | pulled
            repo TEXT,                       -- hub repo for pulled models
            added_at REAL NOT NULL DEFAULT (unixepoch('subsec'))
        );
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            persona TEXT,
            system_prompt TEXT,
            created_at REAL NOT NULL DEFAULT (unixepoch('subsec')),
            updated_at REAL NOT NULL DEFAULT (unixepoch('subsec'))
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            sent TEXT,                            -- the turn as the model saw it (with context)
            status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'cancelled', 'error')),
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            timings TEXT,                         -- JSON
            sources TEXT,                         -- JSON list of citations
            created_at REAL NOT NULL DEFAULT (unixepoch('subsec'))
        );
        CREATE INDEX messages_session ON messages(session_id, id);
        """,
    )


def m002_index(conn: Connection) -> None:
    """Collections of folders, their files and chunks, vectors keyed by content hash, and FTS5."""
    run_script(
        conn,
        """
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            root TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL DEFAULT (unixepoch('subsec')),
            indexed_at REAL
        );
        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,                  -- relative to the collection root
            size INTEGER NOT NULL DEFAULT 0,
            mtime REAL NOT NULL DEFAULT 0,
            sha256 TEXT,
            kind TEXT,
            status TEXT NOT NULL,                -- indexed | skipped | failed | pending
            reason TEXT,
            indexed_at REAL,
            UNIQUE (collection_id, path)
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            text TEXT NOT NULL,
            heading TEXT NOT NULL DEFAULT '',
            start_line INTEGER,
            end_line INTEGER,
            page INTEGER,
            n_tokens INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX chunks_file ON chunks(file_id, seq);
        CREATE INDEX chunks_hash ON chunks(content_hash);
        -- one vector per distinct chunk text: moved or renamed files are never re-embedded
        CREATE TABLE vectors (
            id INTEGER PRIMARY KEY,
            content_hash TEXT NOT NULL UNIQUE,
            embedding BLOB NOT NULL              -- float32, normalised
        );
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, heading, content='chunks', content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
            VALUES ('delete', old.id, old.text, old.heading);
        END;
        """,
    )


def m003_personas(conn: Connection) -> None:
    """Trained persona adapters."""
    run_script(
        conn,
        """
        CREATE TABLE personas (
            name TEXT PRIMARY KEY,
            base_model TEXT NOT NULL,
            base_fingerprint TEXT NOT NULL,
            adapter_path TEXT NOT NULL,
            system_prompt TEXT NOT NULL DEFAULT '',
            data_summary TEXT,                   -- JSON
            metrics TEXT,                        -- JSON
            status TEXT NOT NULL DEFAULT 'ready',
            params TEXT,                         -- JSON: the training run (rank, alpha, lr, ...)
            merged_path TEXT,                    -- merged full GGUF, when --merge was asked for
            created_at REAL NOT NULL DEFAULT (unixepoch('subsec'))
        );
        """,
    )


def m004_evidence(conn: Connection) -> None:
    """Evidence lines quoted with an answer, and how the answer was grounded."""
    run_script(
        conn,
        """
        ALTER TABLE messages ADD COLUMN evidence TEXT;   -- JSON list of quoted lines
        ALTER TABLE messages ADD COLUMN grounding TEXT;  -- sources|nothing_found|no_index|no_rag
        """,
    )


MIGRATIONS: list[Callable[[Connection], None]] = [
    m001_init,
    m002_index,
    m003_personas,
    m004_evidence,
]


def migrate(conn: Connection, target: int | None = None) -> int:
    """Apply pending migrations up to ``target`` (default: all); returns the new version."""
    target = len(MIGRATIONS) if target is None else target
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise StorageError(
            f"the database is at schema version {version}, newer than this ragterm knows",
            hint="upgrade ragterm (pipx upgrade ragterm)",
        )
    for index in range(version, target):
        with transaction(conn):
            MIGRATIONS[index](conn)
            conn.execute(f"PRAGMA user_version = {index + 1}")
    return max(version, target)
