"""Context budgeting, checked with the bundled model's real tokenizer and chat template."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragterm.engine.answer.prompt import MIN_ANSWER_TOKENS, plan, user_turn
from ragterm.engine.models.llm import LocalLlama
from ragterm.engine.models.registry import bundled_chat_path
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import GenerationError

N_CTX = 512
WORDS = ["bread", "history", "the", "oven", "yeast", "rises", "slowly", "écoute", "数据", "x = 1;"]
SYSTEM = "You are a helpful assistant."


@pytest.fixture(scope="module")
def counter():
    m = LocalLlama(bundled_chat_path(), n_ctx=N_CTX, threads=1)
    yield m
    m.close()


def text(n: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


def hit(i: int, n_words: int) -> Hit:
    return Hit(chunk_id=i, text=text(n_words), path=f"/d/f{i}.md", rel_path=f"f{i}.md",
               collection="d", start_line=i, end_line=i + 3)  # fmt: skip


def history(lengths: list[tuple[int, int]]) -> list[dict[str, str]]:
    out = []
    for i, (q, a) in enumerate(lengths):
        out += [
            {"role": "user", "content": f"q{i} " + text(q)},
            {"role": "assistant", "content": f"a{i} " + text(a)},
        ]
    return out


conversations = st.lists(st.tuples(st.integers(1, 120), st.integers(1, 120)), max_size=8)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    turns=conversations,
    n_hits=st.integers(0, 6),
    hit_words=st.integers(5, 150),
    question_words=st.integers(1, 200),
    max_tokens=st.integers(1, 4000),
    start=st.integers(0, 16),
)
def test_prompt_and_answer_always_fit(
    counter, turns, n_hits, hit_words, question_words, max_tokens, start
):
    hist = history(turns)
    hits = [hit(i, hit_words) for i in range(n_hits)]
    question = text(question_words)
    p = plan(counter, SYSTEM, hist, question, hits, max_tokens, start=start)

    prompt_tokens = counter.count_tokens(p.messages)
    assert prompt_tokens + p.max_tokens <= N_CTX  # llama.cpp can never overflow
    assert 1 <= p.max_tokens <= max_tokens
    assert p.budget.used == prompt_tokens  # the meter adds up to the real prompt
    assert p.budget.used + p.budget.reserved <= N_CTX
    # what survives: the newest history (whole exchanges), the best-ranked hits, the question
    assert p.messages[0] == {"role": "system", "content": SYSTEM}
    assert p.messages[1:-1] == hist[p.history_start :]
    assert p.history_start >= min(start, len(hist)) and p.history_start % 2 == 0
    assert p.hits == hits[: len(p.hits)]
    assert p.messages[-1]["content"] == user_turn(question, p.hits) == p.user_sent
    # hits only go to make room once every old turn has gone (or past rag.context_share)
    if len(p.hits) < n_hits and sum(h.n_tokens for h in hits[: len(p.hits) + 1]) <= N_CTX // 2:
        assert p.history_kept == 0
    assert p.budget.dropped_turns == p.history_start // 2


def test_trimming_frees_slack_so_the_next_turns_append(counter):
    hist = history([(60, 60)] * 6)
    p = plan(counter, SYSTEM, hist, "one more question", [], 64)
    assert p.budget.dropped_turns >= 1
    # a quarter of the window is free after trimming, so the next short turn keeps this start
    assert p.budget.used + p.budget.reserved <= N_CTX * 0.75
    nxt = [*hist, {"role": "user", "content": p.user_sent}, {"role": "assistant", "content": "ok"}]
    q = plan(counter, SYSTEM, nxt, "and another", [], 64, start=p.history_start)
    assert q.history_start == p.history_start and q.budget.dropped_turns == p.budget.dropped_turns
    assert q.budget.next_drop == "the oldest exchange"


def test_max_tokens_is_clamped_to_the_space_left(counter):
    p = plan(counter, SYSTEM, [], "hi", [], 100_000)
    assert p.max_tokens == N_CTX - counter.count_tokens(p.messages)


def test_question_too_long_or_empty_is_refused(counter):
    with pytest.raises(GenerationError, match="too long"):
        plan(counter, SYSTEM, [], text(N_CTX), [], 64)
    with pytest.raises(GenerationError, match="empty"):
        plan(counter, SYSTEM, [], " \n", [], 64)
    # just fitting, with the minimum answer room
    words = next(
        n
        for n in range(N_CTX, 0, -8)
        if counter.count_tokens([{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": text(n)}]) + MIN_ANSWER_TOKENS
        <= N_CTX
    )  # fmt: skip
    p = plan(counter, SYSTEM, history([(50, 50)] * 3), text(words), [hit(0, 40)], 500)
    assert p.history_kept == 0 and p.hits == [] and p.max_tokens >= MIN_ANSWER_TOKENS


def test_hits_beyond_the_context_share_are_dropped_by_rank(counter):
    hits = [hit(i, 120) for i in range(5)]
    p = plan(counter, SYSTEM, [], "what about bread?", hits, 32, context_share=0.5)
    assert 0 < len(p.hits) < 5 and p.hits == hits[: len(p.hits)]
    assert sum(h.n_tokens for h in p.hits) <= N_CTX // 2
    assert p.budget.dropped_chunks == 5 - len(p.hits)
    assert "[1] f0.md:0-3" in p.user_sent and "Question: what about bread?" in p.user_sent
