"""`ragterm mcp` end to end: the official SDK's client spawns it over stdio against a real index."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from ragterm.engine.connection import connect
from ragterm.engine.index.pipeline import index_paths
from ragterm.mcp.mcp_server import build

ROOT = Path(__file__).resolve().parents[2]


def folder(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    (kb / "notes").mkdir(parents=True)
    (kb / "wifi.md").write_text("# Office\n\nThe office wifi password is tangerine-42.\n")
    (kb / "notes" / "plants.txt").write_text(
        "".join(f"Line {n}: water the fern on day {n}.\n" for n in range(1, 41))
    )
    (kb / ".env").write_text("API_KEY=hunter2\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("private diary\n")
    (kb / "escape.txt").symlink_to(outside)  # a link out of the folder
    return kb


def data(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content or json.loads(result.content[0].text)


def error(result: Any) -> str:
    assert result.is_error
    (text,) = [c.text for c in result.content]
    assert "\n" not in text and "Traceback" not in text
    return text


def test_ragterm_mcp_over_stdio(tmp_path, ragterm_home, monkeypatch) -> None:
    kb = folder(tmp_path)
    list(index_paths(connect(), [kb]))
    env = {
        "RAGTERM_HOME": str(ragterm_home),
        "HOME": os.environ["HOME"],
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "RAGTERM_CHAT__MAX_TOKENS": "16",
        "RAGTERM_CHAT__TEMPERATURE": "0",
        "RAGTERM_CHAT__CONTEXT_LENGTH": "1024",
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "ragterm", "mcp"], env=env, cwd=str(tmp_path)
    )
    stderr = tmp_path / "stderr.txt"

    async def session() -> None:
        with stderr.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as c:
                tools = await c.list_tools()
                assert sorted(t.name for t in tools.tools) == [
                    "ask",
                    "index_status",
                    "list_collections",
                    "read_lines",
                    "search",
                ]  # fmt: skip  (read-only: no index tool)

                (coll,) = data(await c.call_tool("list_collections", {}))["collections"]
                assert (coll["name"], coll["root"]) == ("kb", str(kb.resolve()))

                hits = data(await c.call_tool("search", {"query": "wifi password", "k": 2}))
                top = hits["hits"][0]
                assert top["citation"] == "wifi.md:1-3" and top["path"] == str(kb / "wifi.md")
                assert (top["start_line"], top["end_line"]) == (1, 3)
                assert "tangerine-42" in top["text"] and top["score"] > 0
                only = {"query": "fern", "collection": "nope"}
                assert "no collection named 'nope'" in error(await c.call_tool("search", only))

                got = data(await c.call_tool("read_lines", {"path": "notes/plants.txt",
                                                            "start": 12, "end": 13}))  # fmt: skip
                assert got["text"] == "Line 12: water the fern on day 12.\n" + (
                    "Line 13: water the fern on day 13."
                )
                assert (got["citation"], got["total"]) == ("notes/plants.txt:12-13", 40)
                for path in ("escape.txt", str(tmp_path / "outside.txt")):
                    refused = error(await c.call_tool("read_lines", {"path": path}))
                    assert "is not a file inside an indexed folder" in refused
                    assert "private diary" not in refused
                assert "looks like a secret" in error(
                    await c.call_tool("read_lines", {"path": ".env"})
                )
                bad = error(await c.call_tool("read_lines", {"path": "wifi.md", "start": 9}))
                assert "wifi.md has 3 lines, not 9" in bad

                status = data(await c.call_tool("index_status", {}))
                assert status["embed_model"] and status["chunks_without_vectors"] == 0
                skipped = {f["path"]: f["status"] for f in status["files_needing_attention"]}
                assert skipped.get(".env") == "skipped"

                answer = data(await c.call_tool("ask", {"question": "What is the wifi password?"}))
                assert answer["status"] == "ok" and answer["grounding"] == "sources"
                assert answer["sources"][0]["citation"] == "wifi.md:1-3"
                assert answer["evidence"][0]["citation"] == "wifi.md:3"
                assert answer["evidence"][0]["text"] == "The office wifi password is tangerine-42."

    anyio.run(session)
    assert "Traceback" not in stderr.read_text()
    # a question asked over MCP is not saved among the user's chats
    from ragterm.engine.answer import sessions

    assert sessions.list_sessions(connect()) == []


@pytest.mark.parametrize("allow", [False, True])
def test_the_index_tool_exists_only_when_allowed(tmp_path, allow) -> None:
    from ragterm import config

    kb = folder(tmp_path)
    server = build(config.load(), allow_index=allow)

    async def session() -> None:
        async with Client(server) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert ("index" in names) is allow
            if not allow:
                return
            missing = error(await c.call_tool("index", {"path": str(tmp_path / "nope")}))
            assert "nope: no such file or folder" in missing
            assert "nothing is indexed yet" in error(await c.call_tool("search", {"query": "x"}))
            (done,) = data(await c.call_tool("index", {"path": str(kb)}))["indexed"]
            assert done["collection"] == "kb" and done["counts"]["new"] >= 2
            hits = data(await c.call_tool("search", {"query": "fern", "k": 1}))["hits"]
            assert hits[0]["rel_path"] == "notes/plants.txt"

    anyio.run(session)
