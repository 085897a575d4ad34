"""Sessions and messages in the real SQLite database."""

from __future__ import annotations

import pytest

from ragterm.errors import RagtermError
from ragterm.store import chats
from ragterm.store.db import connect, transaction


@pytest.fixture
def conn():
    return connect()


def exchange(conn, sid: int, q: str, a: str, **kw) -> int:
    chats.add_message(conn, sid, "user", q, sent=kw.pop("sent", None))
    return chats.add_message(conn, sid, "assistant", a, **kw)


def test_messages_round_trip_with_their_metadata(conn):
    sid = chats.create_session(conn, title="Bread", model="smollm2-135m", persona="pirate")
    src = [{"citation": "notes/bread.md:1-4", "chunk_id": 3}]
    chats.add_message(conn, sid, "user", "How is bread made?", sent="[1] ...\nQuestion: How?")
    mid = chats.add_message(
        conn,
        sid,
        "assistant",
        "With flour [1].",
        status="cancelled",
        prompt_tokens=120,
        completion_tokens=5,
        timings={"ttft_s": 0.2, "tokens_per_s": 40.0},
        sources=src,
    )
    user, answer = chats.messages(conn, sid)
    assert user.as_sent.startswith("[1]") and user.content == "How is bread made?"
    assert answer.id == mid and answer.as_sent == "With flour [1]."
    assert (answer.status, answer.prompt_tokens, answer.completion_tokens) == ("cancelled", 120, 5)
    assert answer.timings["tokens_per_s"] == 40.0 and answer.sources == src
    s = chats.get_session(conn, sid)
    assert (s.title, s.model, s.persona, s.n_messages) == ("Bread", "smollm2-135m", "pirate", 2)


def test_unknown_status_or_role_is_rejected_by_the_schema(conn):
    sid = chats.create_session(conn)
    with pytest.raises(Exception, match="CHECK"):
        chats.add_message(conn, sid, "assistant", "x", status="half-done")
    with pytest.raises(Exception, match="CHECK"):
        chats.add_message(conn, sid, "robot", "x")
    assert chats.messages(conn, sid) == []


def test_a_failed_transaction_leaves_no_half_written_turn(conn):
    with pytest.raises(RuntimeError), transaction(conn):
        sid = chats.create_session(conn, title="never")
        chats.add_message(conn, sid, "user", "question")
        raise RuntimeError("the answer failed to save")
    assert chats.list_sessions(conn) == []
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_list_search_rename_and_most_recent_first(conn):
    a = chats.create_session(conn, title="Sourdough starter")
    b = chats.create_session(conn, title="Tax forms")
    exchange(conn, b, "Where is the W-2?", "In the folder.")
    chats.update_session(conn, a)  # a was used last
    assert [s.id for s in chats.list_sessions(conn)] == [a, b]
    assert [s.id for s in chats.list_sessions(conn, "W-2")] == [b]  # message text matches
    assert [s.id for s in chats.list_sessions(conn, "sourdough")] == [a]  # title, any case
    chats.rename_session(conn, b, "Taxes 2025")
    assert chats.get_session(conn, b).title == "Taxes 2025"


def test_deleting_a_session_deletes_its_messages(conn):
    sid = chats.create_session(conn, title="gone")
    exchange(conn, sid, "q", "a")
    chats.delete_session(conn, sid)
    with pytest.raises(RagtermError, match=f"no conversation with id {sid}"):
        chats.get_session(conn, sid)
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_delete_messages_from_forgets_the_tail(conn):
    sid = chats.create_session(conn)
    exchange(conn, sid, "q1", "a1")
    exchange(conn, sid, "q2", "a2")
    q2 = chats.messages(conn, sid)[2].id
    chats.delete_messages_from(conn, sid, q2)
    assert [m.content for m in chats.messages(conn, sid)] == ["q1", "a1"]


def test_export_markdown(conn):
    sid = chats.create_session(conn, title="Wifi", model="smollm2-135m")
    exchange(
        conn,
        sid,
        "What is the password?",
        "tangerine-42 [1]",
        status="cancelled",
        sources=[{"citation": "wifi.md:3-3"}],
    )
    md = chats.export_markdown(conn, sid)
    assert md.startswith("# Wifi\n")
    assert "## You\n\nWhat is the password?" in md
    assert "## Assistant (cancelled)\n\ntangerine-42 [1]" in md
    assert "- [1] wifi.md:3-3" in md
