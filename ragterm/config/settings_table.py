"""Every setting: its key, type, default, help line and rule. A new setting is one line here.

Keys are dotted (``chat.temperature``) and map to TOML tables (``[chat] temperature = 0.7``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    key: str
    type: type
    default: Any
    help: str
    check: Callable[[Any], bool] | None = None
    rule: str = ""
    choices: tuple[str, ...] = ()
    secret: bool = False  # never printed: `config show/get/set` mask it


def _between(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


_S = Setting
SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in [
        # chat model and sampling
        _S("chat.model", str, "smollm2-135m", "chat model name (see `ragterm models list`)"),
        _S(
            "chat.context_length",
            int,
            8192,
            "cap on the context window (tokens)",
            _between(256, 1_048_576),
            "an integer from 256 to 1048576",
        ),
        _S(
            "chat.threads",
            int,
            0,
            "CPU threads for generation (0 = physical cores)",
            _between(0, 1024),
            "an integer from 0 to 1024",
        ),
        _S(
            "chat.gpu_layers",
            int,
            -1,
            "layers offloaded to the GPU (-1 = all when supported)",
            _between(-1, 100_000),
            "-1 or a layer count",
        ),
        _S(
            "chat.max_tokens",
            int,
            512,
            "most tokens in one answer",
            _between(1, 65536),
            "an integer from 1 to 65536",
        ),
        _S(
            "chat.temperature",
            float,
            0.7,
            "sampling temperature",
            _between(0.0, 5.0),
            "a number from 0 to 5",
        ),
        _S(
            "chat.top_p",
            float,
            0.95,
            "nucleus sampling",
            _between(0.0, 1.0),
            "a number from 0 to 1",
        ),
        _S(
            "chat.top_k",
            int,
            40,
            "top-k sampling (0 = off)",
            _between(0, 100_000),
            "a non-negative integer",
        ),
        _S("chat.min_p", float, 0.05, "min-p sampling", _between(0.0, 1.0), "a number from 0 to 1"),
        _S(
            "chat.repeat_penalty",
            float,
            1.1,
            "repetition penalty",
            _between(0.0, 10.0),
            "a number from 0 to 10",
        ),
        _S(
            "chat.seed",
            int,
            -1,
            "sampling seed (-1 = random)",
            _between(-1, 2**31 - 1),
            "-1 or a non-negative integer",
        ),
        _S("chat.stop", list, [], "extra stop sequences"),
        _S(
            "chat.system_prompt",
            str,
            "You are ragterm, a helpful assistant running locally. Answer concisely. When context "
            "from the user's files is given, use it and cite the sources by their [number].",
            "system prompt for new conversations",
        ),
        _S("chat.persona", str, "", "persona used by default (empty = none)"),
        _S("chat.backend", str, "local", "where answers come from", choices=("local", "remote")),
        _S("remote.url", str, "", "OpenAI-compatible server URL, e.g. http://localhost:8080/v1"),
        _S("remote.model", str, "", "model name to ask the remote server for"),
        _S(
            "remote.api_key",
            str,
            "",
            "API key for the remote server (or RAGTERM_REMOTE__API_KEY, or remote.api_key_file)",
            secret=True,
        ),
        _S(
            "remote.api_key_file",
            str,
            "",
            "file holding the remote server's API key (used when remote.api_key is empty)",
        ),
        _S(
            "remote.timeout",
            float,
            120.0,
            "seconds to wait for the remote server",
            _between(1.0, 3600.0),
            "a number of seconds from 1 to 3600",
        ),
        _S(
            "models.catalog",
            str,
            "",
            "model catalog TOML for `models recommend|pull ALIAS` (empty = the built-in one)",
        ),
        # retrieval
        _S("rag.enabled", bool, True, "use retrieval when answering"),
        _S(
            "rag.top_k",
            int,
            5,
            "retrieved chunks per question",
            _between(1, 100),
            "an integer from 1 to 100",
        ),
        _S(
            "rag.threshold",
            float,
            0.4,
            "cosine similarity the best retrieved chunk must reach; below it nothing is found "
            "and the answer is marked as general knowledge, above it the ranked chunks go as they "
            "are (0.4 turned away 11 of 16 unanswerable questions of the three answer dev sets "
            "with the bundled embedding model; 0.35 turns away 7 and sends the right file for 5 "
            "more of 164); a best chunk up to 0.1 under it still counts when it holds half the "
            "question's words",
            _between(-1.0, 1.0),
            "a number from -1 to 1",
        ),
        _S(
            "rag.context_share",
            float,
            0.5,
            "largest share of the context for retrieved chunks",
            _between(0.05, 0.95),
            "a number from 0.05 to 0.95",
        ),
        _S(
            "rag.fusion",
            str,
            "convex",
            "how keyword and vector results are fused: convex (weighted normalised scores, "
            "best on the pydocs dev set) or rrf (reciprocal rank fusion)",
            choices=("rrf", "convex"),
        ),
        _S(
            "rag.rrf_k",
            int,
            60,
            "reciprocal rank fusion constant",
            _between(1, 1000),
            "an integer from 1 to 1000",
        ),
        _S(
            "rag.vector_weight",
            float,
            0.9,
            "weight of the vector side in fusion (keyword side: 1 - this)",
            _between(0.0, 1.0),
            "a number from 0 to 1",
        ),
        _S(
            "rag.rewrite",
            str,
            "auto",
            "follow-up questions searched as standalone queries: model (the chat model rewrites "
            "them), terms (carry the earlier question's words), auto (model when it has 1B+ "
            "parameters or is remote, else terms), off",
            choices=("auto", "model", "terms", "off"),
        ),
        _S(
            "rag.rerank",
            str,
            "off",
            "cross-encoder that re-orders the top candidates: off, a fastembed TextCrossEncoder "
            "name (e.g. Xenova/ms-marco-MiniLM-L-6-v2, downloaded once) or a folder holding one",
        ),
        _S(
            "rag.line_candidates",
            int,
            15,
            "candidates read line by line: the last two places among the sources (never the "
            "first three) go to those whose best line holds most of the question's words (no "
            "model; 0 turns it off; a cross-encoder in rag.rerank replaces it)",
            _between(0, 200),
            "an integer from 0 to 200",
        ),
        _S(
            "rag.rerank_candidates",
            int,
            20,
            "candidates the cross-encoder re-orders when rag.rerank is on",
            _between(1, 200),
            "an integer from 1 to 200",
        ),
        _S(
            "rag.assembly",
            str,
            "auto",
            "what a turn with sources sends the model: whole (whole chunks, answer first), "
            "excerpts (the best lines of each chunk, quote and cite, the retrieval adapter), "
            "extractive (no generation: the best evidence line, quoted) or auto (whole for "
            "1B+ models and servers; for smaller ones the assembly measured best)",
            choices=("auto", "whole", "excerpts", "extractive"),
        ),
        _S(
            "rag.evidence",
            int,
            3,
            "evidence lines quoted (verbatim, file:line) with each answer (0 = none)",
            _between(0, 20),
            "an integer from 0 to 20",
        ),
        _S(
            "rag.excerpt_lines",
            int,
            2,
            "lines of each retrieved chunk sent to the model, the most relevant ones "
            "(0 = whole chunks; rag.assembly excerpts only)",
            _between(0, 200),
            "an integer from 0 to 200",
        ),
        _S(
            "rag.order",
            str,
            "evidence",
            "order of the sources sent to the model: evidence (the source holding the best "
            "evidence line first: small models answer mostly from the first source) or "
            "retrieval (the search's ranking)",
            choices=("evidence", "retrieval"),
        ),
        _S(
            "rag.adapter",
            str,
            "auto",
            "LoRA adapter that teaches the bundled model to answer from sources: auto (the one "
            "shipped, for the bundled model), off, or a GGUF adapter path; applied on turns that "
            "send sources only",
        ),
        # indexing
        _S(
            "embed.model",
            str,
            "bundled:all-MiniLM-L6-v2",
            "embedding model: 'bundled:all-MiniLM-L6-v2' or any fastembed model name",
        ),
        _S(
            "embed.backend",
            str,
            "local",
            "where chunks are embedded: local (embed.model here) or remote (an OpenAI-compatible "
            "/v1/embeddings server at embed.url)",
            choices=("local", "remote"),
        ),
        _S("embed.url", str, "", "embedding server URL, e.g. http://gpu-box:8089/v1"),
        _S("embed.remote_model", str, "", "model name to ask the embedding server for"),
        _S("embed.api_key", str, "", "API key for the embedding server", secret=True),
        _S(
            "embed.timeout",
            float,
            60.0,
            "seconds to wait for one embedding request",
            _between(1.0, 3600.0),
            "a number of seconds from 1 to 3600",
        ),
        _S(
            "embed.retries",
            int,
            3,
            "retries (with backoff) when the embedding server is down or busy",
            _between(0, 20),
            "an integer from 0 to 20",
        ),
        _S(
            "embed.batch_size",
            int,
            32,
            "chunks embedded per batch",
            _between(1, 4096),
            "an integer from 1 to 4096",
        ),
        _S(
            "index.chunk_tokens",
            int,
            200,
            "chunk size in embedding-model tokens",
            _between(16, 8192),
            "an integer from 16 to 8192",
        ),
        _S(
            "index.chunk_overlap",
            int,
            30,
            "overlap between chunks in tokens",
            _between(0, 4096),
            "an integer from 0 to 4096",
        ),
        _S(
            "index.max_file_mb",
            float,
            20.0,
            "files larger than this are skipped",
            _between(0.001, 100_000.0),
            "a positive number of megabytes",
        ),
        _S(
            "index.include_secrets",
            bool,
            False,
            "index secrets anyway: .env files, keys, and files in which detect-secrets finds a "
            "credential (AWS/GitHub/Slack/Stripe tokens, JWTs, private keys, passwords...)",
        ),
        _S(
            "index.follow_symlinks",
            str,
            "inside",
            "symlinks followed when indexing and when opening an indexed file (preview, editor, "
            "evidence, persona writing): inside (only those whose target stays inside the "
            "indexed folder), none, or all",
            choices=("inside", "none", "all"),
        ),
        _S(
            "index.vector_store",
            str,
            "sqlite-vec",
            "where vector candidates are searched (store.vectors): sqlite-vec, embedded in the "
            "index file",
            choices=("sqlite-vec",),
        ),
        _S(
            "tune.watchdog_s",
            float,
            900.0,
            "seconds a training child may stay silent before it is stopped as hung",
            _between(5.0, 86_400.0),
            "a number of seconds from 5 to 86400",
        ),
        # interface
        _S("ui.theme", str, "textual-dark", "TUI theme"),
        _S("ui.show_sources", bool, True, "show the sources panel"),
        _S("ui.welcome", bool, True, "welcome panel in an empty chat (off once dismissed)"),
    ]
}
