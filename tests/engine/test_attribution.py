"""An answer that cites nothing gets the source holding what it names, labelled as ragterm's."""

from __future__ import annotations

from ragterm.engine.answer.attribution import attribute
from ragterm.engine.events import Done
from ragterm.engine.retrieve.hits import Hit

# answers the 1.5B model wrote without a citation (docs/benchmarks.md, "Attribution")
SOURCES = [
    "## Staging resets\nThe reset job restores the prod dump, then sqitch deploys the schema "
    "migrations. Nothing else touches the schema.",
    "## Prod dumps\nBefore a dump lands in staging, scrub-pii strips names, emails and phone "
    "numbers from it.",
    "## Backups\nNightly backups go to git-01; the offsite copy ends up in kestrel-offsite-b2.",
]


def test_the_source_holding_the_name_the_answer_writes_is_attributed() -> None:
    q = "Which tool strips personal data from the prod dump before it lands in staging?"
    answer = "The tool that strips personal data from the prod dump is scrub-pii."
    assert attribute(answer, q, SOURCES) == [2]
    # a backticked name or a call counts as the name itself
    q2 = "What runs the schema migrations when staging is reset?"
    assert attribute("The migrations are run by `sqitch()`.", q2, SOURCES) == [1]


def test_words_the_question_already_has_do_not_pick_a_source() -> None:
    # "prod dump" and "staging" are in two sources, and in the question: no evidence either way
    q = "Where does the prod dump go before staging?"
    assert attribute("The prod dump goes to staging.", q, SOURCES) == []


def test_a_refusal_or_a_name_in_no_source_is_not_attributed() -> None:
    q = "Which tool rotates the VPN certificate?"
    assert attribute("I'm sorry, the sources do not mention the certificate.", q, SOURCES) == []
    assert attribute("It is certbot.", q, SOURCES) == []


def test_the_rarest_term_decides_and_a_tie_goes_to_the_higher_ranked_source() -> None:
    q = "Where do the backups go?"
    # "staging" is in two sources, "kestrel-offsite-b2" in one: the rare name wins
    answer = "After staging, the offsite copy ends up in kestrel-offsite-b2."
    assert attribute(answer, q, SOURCES) == [3]
    assert attribute("It mentions staging.", q, SOURCES) == [1]


def test_the_note_says_the_attribution_is_ragterms_not_the_models(tmp_path) -> None:
    hits = [Hit(i, t, str(tmp_path / f"n{i}.md"), f"n{i}.md", "md", "", 1, 3)
            for i, t in enumerate(SOURCES, 1)]  # fmt: skip
    done = Done(content="scrub-pii does.", grounding="sources", sources=hits, attributed=[2])
    (note,) = [n for n in done.notes if "cites no source" in n]
    assert "[2] n2.md:1-3" in note and "ragterm's attribution, not the model's" in note
    bare = Done(content="scrub-pii does.", grounding="sources", sources=hits)
    assert any("check it against the evidence lines" in n for n in bare.notes)


def test_a_resumed_answer_shows_the_same_attribution(tmp_path) -> None:
    from types import SimpleNamespace

    from ragterm.tui.chat_rendering import stored_notes

    hits = [Hit(i, t, str(tmp_path / f"n{i}.md"), f"n{i}.md", "md", "", 1, 3)
            for i, t in enumerate(SOURCES, 1)]  # fmt: skip
    q = "Which tool strips personal data from the prod dump before it lands in staging?"
    saved = SimpleNamespace(
        role="assistant", grounding="sources", content="It is scrub-pii.", status="ok",
        sources=[h.to_dict() for h in hits],
    )  # fmt: skip
    assert any("[2] n2.md:1-3 holds what it names" in n for n in stored_notes(saved, q))
    # a cancelled answer was not attributed when it was written, nor is it when resumed
    saved.status = "cancelled"
    assert not any("holds what it names" in n for n in stored_notes(saved, q))
