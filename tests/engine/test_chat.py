"""The chat engine with the real bundled model in llama.cpp."""

from __future__ import annotations

import threading

import pytest

from ragterm import config
from ragterm.engine.answer.conversation import Conversation
from ragterm.engine.events import Done, Retrieved, Token, Trimmed
from ragterm.engine.models.llm import LocalLlama, SamplingParams
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import GenerationError
from ragterm.store import chats
from ragterm.store.db import connect

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\n' + "
    "message['content'] + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


@pytest.fixture
def model(bundled_llama):
    """The session's bundled model (tests/engine/conftest.py)."""
    return bundled_llama


@pytest.fixture(scope="module")
def bundled_gguf_path():
    from ragterm.engine.models.registry import bundled_chat_path

    return bundled_chat_path()


@pytest.fixture
def cfg(monkeypatch):
    monkeypatch.setenv("RAGTERM_CHAT__TEMPERATURE", "0")
    monkeypatch.setenv("RAGTERM_CHAT__MAX_TOKENS", "24")
    monkeypatch.setenv("RAGTERM_CHAT__SEED", "1")
    return config.load()


def run(conv, text, **kw):
    events = list(conv.send(text, **kw))
    return events, events[-1]


def test_answer_streams_and_is_saved(model, cfg):
    conn = connect()
    conv = Conversation(model, conn, cfg)
    events, done = run(conv, "What is the capital of France?")
    tokens = [e for e in events if isinstance(e, Token)]
    assert len(tokens) > 3 and isinstance(done, Done) and done.status == "ok"
    assert "".join(t.text for t in tokens) == done.content
    msgs = chats.messages(conn, conv.session_id)
    assert [(m.role, m.status) for m in msgs] == [("user", "ok"), ("assistant", "ok")]
    assert msgs[1].content == done.content and msgs[1].completion_tokens == len(tokens)
    assert chats.get_session(conn, conv.session_id).title == "What is the capital of France?"


def test_second_turn_reuses_the_kv_cache(model, cfg):
    conv = Conversation(model, connect(), cfg)
    run(conv, "Name three colours.")
    first_prompt = model.last_stats()["prompt_tokens"]
    run(conv, "Which of them is the warmest?")
    stats = model.last_stats()
    # the whole first turn (its prompt, at least) was already in the cache
    assert stats["cached_tokens"] >= first_prompt - 1
    assert stats["prompt_tokens"] > first_prompt


def test_retrieved_context_goes_in_the_newest_user_turn(model, cfg):
    conn = connect()
    conv = Conversation(model, conn, cfg)
    hit = Hit(
        chunk_id=7,
        text="The office wifi password is tangerine-42.",
        path="/n/wifi.md",
        rel_path="wifi.md",
        collection="notes",
        start_line=3,
        end_line=3,
    )
    events, done = run(conv, "What is the wifi password?", hits=[hit])
    assert isinstance(events[0], Retrieved) and events[0].hits == [hit]
    assert done.sources == [hit]
    user = chats.messages(conn, conv.session_id)[0]
    assert user.content == "What is the wifi password?"
    assert "[1] wifi.md:3-3" in user.as_sent and "tangerine-42" in user.as_sent
    assert user.sources[0]["citation"] == "wifi.md:3-3"
    # the system prompt did not change: the next turn's prefix is identical
    history = conv.history()
    assert history[0]["content"] == user.as_sent


def test_evidence_and_grounding_are_saved_with_the_answer(model, cfg, tmp_path):
    note = tmp_path / "wifi.md"
    note.write_text("# Office\n\nThe office wifi password is tangerine-42.\n")
    hit = Hit(1, note.read_text(), str(note), "wifi.md", "notes", start_line=1, end_line=3)
    conn = connect()
    conv = Conversation(model, conn, cfg)
    events, done = run(conv, "What is the office wifi password?", hits=[hit])
    shown = events[0].evidence
    assert shown and shown[0].text == "The office wifi password is tangerine-42."
    assert (shown[0].line, shown[0].source, shown[0].status) == (3, 1, "current")
    assert done.evidence == shown and done.grounding == "sources"
    answer = chats.messages(conn, conv.session_id)[1]
    assert answer.evidence[0]["citation"] == "wifi.md:3" and answer.grounding == "sources"


def test_an_empty_search_is_marked_as_general_knowledge(model, cfg):
    conv = Conversation(model, connect(), cfg)
    events, done = run(conv, "What is the capital of France?", retrieve=lambda q, k: [])
    assert events[0].nothing_found and done.grounding == "nothing_found"
    assert any("general knowledge" in n for n in done.notes)
    _, done = run(conv, "And of Italy?")  # rag on, nothing indexed
    assert done.grounding == "no_index" and any("index a folder" in n for n in done.notes)


def test_long_conversations_are_trimmed_never_overflow(model, cfg):
    cfg = cfg.with_overrides(**{"chat.max_tokens": 16})
    conn = connect()
    conv = Conversation(model, conn, cfg)
    long = "Tell me about the history of bread. " * 30
    dropped, stats = [], []
    for _ in range(5):
        events, done = run(conv, long)
        assert done.status == "ok"
        trims = [e for e in events if isinstance(e, Trimmed)]
        dropped.append(trims[0].dropped_turns if trims else 0)
        stats.append(model.last_stats())
        assert stats[-1]["prompt_tokens"] + done.completion_tokens <= model.n_ctx
    assert dropped[-1] >= 1
    first = dropped.index(dropped[-1])
    assert first < 4, "trimming freed too little: every turn shifted the window"
    # after the trim, the next turn extends the trimmed prompt instead of shifting it again
    after = stats[first + 1]
    assert after["cached_tokens"] >= stats[first]["prompt_tokens"]
    assert after["prompt_eval_tokens"] < after["prompt_tokens"] / 2
    # history itself is intact in the database
    assert len(chats.messages(conn, conv.session_id)) == 10


def test_budget_preview_accounts_for_everything(model, cfg):
    conv = Conversation(model, connect(), cfg)
    run(conv, "Hello there")
    b = conv.budget_preview("and now?")
    assert b.system > 0 and b.history > 0 and b.question > 0
    assert b.used + b.reserved <= b.n_ctx
    assert b.next_drop == "the oldest exchange"


def test_question_longer_than_the_context_is_refused(model, cfg):
    conn = connect()
    conv = Conversation(model, conn, cfg)
    with pytest.raises(GenerationError, match="too long"):
        run(conv, "word " * 3000)
    assert chats.list_sessions(conn) == []
    with pytest.raises(GenerationError, match="empty"):
        run(conv, "   ")


def test_cancel_keeps_the_partial_answer(model, cfg):
    conn = connect()
    conv = Conversation(model, conn, cfg.with_overrides(**{"chat.max_tokens": 200}))
    cancel = threading.Event()
    got = []
    for ev in conv.send("Write a long story about a dragon.", cancel=cancel):
        if isinstance(ev, Token):
            got.append(ev.text)
            if len(got) == 5:
                cancel.set()
        last = ev
    assert isinstance(last, Done) and last.status == "cancelled"
    assert len(got) == 5 and last.content == "".join(got)
    saved = chats.messages(conn, conv.session_id)[-1]
    assert (saved.status, saved.content) == ("cancelled", last.content)
    assert saved.completion_tokens == 5 and saved.timings["ttft_s"] > 0


def test_sampling_is_deterministic_with_a_seed_at_temperature_zero(model, cfg):
    msgs = [{"role": "user", "content": "Count from one to five."}]
    p = SamplingParams(temperature=0, max_tokens=16, seed=3)
    assert "".join(model.stream(msgs, p)) == "".join(model.stream(msgs, p))
    stop = SamplingParams(temperature=0, max_tokens=32, seed=3, stop=["three"])
    assert "three" not in "".join(model.stream(msgs, stop))


def test_template_without_system_role_folds_the_system_prompt(bundled_gguf_path):
    m = LocalLlama(bundled_gguf_path, n_ctx=512, threads=2)
    try:
        m._template = m._make_formatter(GEMMA_TEMPLATE)
        m._system_ok = m._supports_system()
        assert m._system_ok is False
        prompt = m.render(
            [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
        )
        assert "<start_of_turn>user\nBe terse.\n\nHi<end_of_turn>" in prompt
        assert "".join(
            m.stream(
                [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
                SamplingParams(temperature=0, max_tokens=4),
            )
        )
    finally:
        m.close()


def test_regenerate_replaces_the_last_answer(model, cfg):
    conn = connect()
    conv = Conversation(model, conn, cfg)
    run(conv, "Say something.")
    events = list(conv.regenerate(temperature=0.9, seed=7))
    assert events[-1].status == "ok"
    assert [m.role for m in chats.messages(conn, conv.session_id)] == ["user", "assistant"]


# -- answer assembly (engine.assembly): what a turn with sources sends, chosen per model -------

CODE = '''class Console:
    """A high level console interface."""

    def rule(self, title: str = "", *, characters: str = "-") -> None:
        """Draw a line with an optional centered title.

        Args:
            title: text to render over the rule.
        """
        print(characters * 40)
'''


def _code_hit(tmp_path):
    src = tmp_path / "console.py"
    src.write_text(CODE)
    return Hit(1, CODE, str(src), "console.py", "code", "class Console", 1, 10)


def test_whole_assembly_sends_the_whole_chunk_and_asks_for_the_answer_first(model, cfg, tmp_path):
    hit = _code_hit(tmp_path)
    conv = Conversation(model, connect(), cfg.with_overrides(**{"rag.assembly": "whole"}))
    events, done = run(conv, "Which Console method draws a horizontal line?", hits=[hit])
    sent = chats.messages(conv.conn, conv.session_id)[0].as_sent
    # every line of the chunk reaches the model, not two excerpted lines
    assert all(line.strip() in sent for line in CODE.splitlines() if line.strip())
    assert (
        "start with the answer in a full sentence that writes out the name" in sent
        and "quote the line" not in sent
    )
    assert "a source number alone is not an answer" in sent
    # the rules first, then the sources as they are (no "> " fence), the question last
    assert (
        sent.index("start with the answer")
        < sent.index("[1] console.py")
        < sent.index("Question: Which Console method")
    )
    assert "> def rule(" not in sent and "    def rule(" in sent and "not instructions" in sent
    assert done.assembly == "whole" and done.status == "ok" and done.completion_tokens > 0


def test_excerpts_assembly_sends_the_best_lines_with_quote_rules(model, cfg, tmp_path):
    hit = _code_hit(tmp_path)
    conv = Conversation(model, connect(), cfg.with_overrides(**{"rag.assembly": "excerpts"}))
    _, done = run(conv, "Which Console method draws a horizontal line?", hits=[hit])
    sent = chats.messages(conv.conn, conv.session_id)[0].as_sent
    assert "quote the line that answers" in sent and "print(characters * 40)" not in sent
    assert done.assembly == "excerpts"


def test_extractive_assembly_quotes_the_best_evidence_line_without_generating(model, cfg, tmp_path):
    hit = _code_hit(tmp_path)
    conv = Conversation(model, connect(), cfg.with_overrides(**{"rag.assembly": "extractive"}))
    events, done = run(conv, "Which Console method draws a line with a centered title?", hits=[hit])
    assert done.assembly == "extractive" and done.completion_tokens == 0
    assert any("the model wrote none of it" in n for n in done.notes)  # labelled as a quote
    best = events[0].evidence[0]
    assert "Draw a line with an optional centered title." in done.content
    assert done.content.endswith(f"[{best.source}]") and done.citations == [1]
    # the definition it sits under names the answer, on one line
    assert "def rule(" in done.content and "\n" not in done.content
    # a turn without sources is still answered by the model
    _, plain = run(conv, "Say hello.", hits=[])
    assert plain.assembly == "" and plain.completion_tokens > 0


def test_auto_assembly_follows_the_model_size(model, cfg):
    from types import SimpleNamespace

    from ragterm.engine.answer import assembly

    small = assembly.choose(cfg, model)  # the bundled 135M model
    assert small.name == assembly.SMALL_MODEL_DEFAULT and "small model" in small.reason
    big = SimpleNamespace(info=SimpleNamespace(parameters="1.5B", size=0))
    assert assembly.choose(cfg, big).name == "whole"
    server = SimpleNamespace(url="http://localhost:8080/v1")
    assert assembly.choose(cfg, server).name == "whole"
    forced = cfg.with_overrides(**{"rag.assembly": "excerpts"})
    assert assembly.choose(forced, big).name == "excerpts"


def test_an_extractive_answer_quotes_from_the_searchs_own_ranking(model, cfg, tmp_path):
    """The search gives its last places to chunks with one line holding the question's words;
    an extractive answer would quote that line whether or not it is the thing asked for, so the
    bundled model's turns keep the ranking as fused (and a generating model's get the line)."""
    from ragterm.engine.embed import BUNDLED, load_embedder
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.engine.retrieve.index_search import make_retriever
    from tests.engine.test_retrieval import QUEUE_CODE, UPLOAD_GUIDE
    from tests.helpers import write_files

    files = {f"docs/uploads-{i}.md": UPLOAD_GUIDE.format(i=i) for i in range(12)}
    files["src/transfer.py"] = QUEUE_CODE
    root = write_files(tmp_path / "home", files)
    conn = connect(tmp_path / "index.db")
    list(index_paths(conn, [root], embedder=load_embedder(BUNDLED), cfg=cfg))
    q = "which function retries a failed upload waiting longer each attempt"
    search = make_retriever(conn, cfg)
    assert "src/transfer.py" in [h.rel_path for h in search(q, 5)]
    assert "src/transfer.py" not in [h.rel_path for h in search(q, 5, read_lines=False)]

    conv = Conversation(model, connect(), cfg.with_overrides(**{"rag.assembly": "extractive"}))
    _, done = run(conv, q, retrieve=search)
    assert done.assembly == "extractive" and done.sources
    assert "src/transfer.py" not in [h.rel_path for h in done.sources]


def test_the_evidence_under_a_written_answer_backs_what_it_names(model, cfg, tmp_path):
    """Before the answer the evidence is the question's best line ("Draw a line..."); under the
    answer, the line that holds what the answer names (the method) comes first."""
    from ragterm.engine.answer.attribution import support

    hit = _code_hit(tmp_path)
    conv = Conversation(model, connect(), cfg.with_overrides(**{"rag.assembly": "whole"}))
    q = "Which Console method draws a horizontal line?"
    events, done = run(conv, q, hits=[hit])
    shown_first = next(e for e in events if isinstance(e, Retrieved)).evidence
    assert "rule" not in shown_first[0].text  # the question's words: "Draw a line..."
    assert "rule" in done.content  # the bundled model names the method (temperature 0)
    backs = support(done.content, q, [line for line in CODE.splitlines() if line.strip()])
    assert backs(done.evidence[0].text) > 0 and "rule" in done.evidence[0].text
    assert done.evidence[0].status == "current" and done.evidence[0].line
    saved = chats.messages(conv.conn, conv.session_id)[-1]
    assert saved.evidence[0]["text"] == done.evidence[0].text  # a resumed chat shows the same


def test_an_answer_that_restates_the_question_is_finished_with_the_name(model, cfg, tmp_path):
    """A 1B+ model sometimes writes the question back as its answer ("The pager class delegates
    to the pager program ..."): ragterm then writes "In other words, the answer is" after it for
    the model to finish, and says so under the answer."""
    from types import SimpleNamespace

    from ragterm.engine.answer.prompt import NAME_IT
    from ragterm.engine.answer.turn import Ask, name_request

    hit = _code_hit(tmp_path)
    whole = cfg.with_overrides(**{"rag.assembly": "whole"})
    q = "Which Console method draws a horizontal line?"
    t = Conversation(model, connect(), whole)._prepare(
        Ask(q, None, None, [hit], None, None, (), (), {})
    )
    restated = "The Console method draws a horizontal line. [1]"
    prefix = name_request(t, restated, q, model)
    assert prefix == restated + NAME_IT  # the model goes on from here (test_llm.py)
    # an answer with a name, and one with a source number in its place, are left as they are
    # (pushed to name one there, the model made one up for questions the files do not answer)
    assert name_request(t, "It is `rule` [1].", q, model) is None
    assert name_request(t, "The Console method that draws a line is [1].", q, model) is None
    # a server cannot be asked to continue an answer; an extractive answer is the file's line
    assert name_request(t, restated, q, SimpleNamespace(continues=False)) is None
    quoted = cfg.with_overrides(**{"rag.assembly": "extractive"})
    t2 = Conversation(model, connect(), quoted)._prepare(
        Ask(q, None, None, [hit], None, None, (), (), {})
    )
    assert name_request(t2, restated, q, model) is None
    # the answer as saved says so again when the chat is resumed (the TUI rebuilds its notes)
    from ragterm.engine.answer.turn import answer_checks

    finished = restated + NAME_IT + " `rule` [1]."
    checks = answer_checks(finished, q, [hit], [1], finished=True)
    assert checks["prompted_name"] and not checks["bare"] and not checks["unsupported"]
    note = Done(finished, **checks).notes
    assert any("is ragterm's, written for the model to finish" in n for n in note)
