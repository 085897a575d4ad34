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


# answers the 1.5B model wrote to questions the folder holds no answer to (docs/benchmarks.md,
# "Names no source holds")
CODE = [
    'def copy(self) -> \'ConsoleOptions\':\n    """Return a copy of the options."""',
    'def read_parquet(path):\n    """Load a Parquet file."""',
    "Use the Console to copy text to the screen.",
]


def test_a_name_no_source_holds_is_reported_as_the_models_own() -> None:
    from ragterm.engine.answer.attribution import unsupported

    q = "Which function draws a sparkline chart from a list of numbers?"
    # backticked, even a word of the question: a claim that a function has that name
    assert unsupported("The function `sparkline` draws it. [1]", q, SOURCES) == ["sparkline"]
    q2 = "Which React hook keeps local state?"
    assert unsupported("The hook is useState, see react.dev", q2, SOURCES) == [
        "useState",
        "react.dev",
    ]
    # names the sources hold are not reported, whatever their case or call parentheses
    assert unsupported("It is `SCRUB-PII()`; backups go to git-01.", q2, SOURCES) == []


def test_a_dotted_name_is_held_by_its_last_part_only_where_a_source_names_it() -> None:
    from ragterm.engine.answer.attribution import unsupported

    q = "Which function reads a Parquet file?"
    assert unsupported("It is `pandas.read_parquet`.", q, CODE) == []
    assert unsupported("Use `Console.copy()`.", q, CODE) == []  # def copy( names it
    assert unsupported("Use `Console.copy()`.", q, CODE[2:]) == ["Console.copy"]  # a word only


def test_code_blocks_values_and_refusals_are_not_claims() -> None:
    from ragterm.engine.answer.attribution import unsupported

    q = "Which tool strips personal data?"
    example = "It is scrub-pii:\n```sh\nscrub_pii --in dump.sql\n```\nSet `verbose` to `False`."
    assert unsupported(example, q, SOURCES) == ["verbose"]
    assert unsupported("Sorry, the sources do not mention `pii_tool`.", q, SOURCES) == []


def test_a_source_number_where_the_name_should_be_is_reported() -> None:
    from ragterm.engine.answer.attribution import bare_citation

    assert bare_citation("The uvicorn flag that enables HTTP/3 over QUIC is [3].") == 3
    assert bare_citation("The prompt class is [1, 2]") == 1
    assert bare_citation("The flag is `--http3` [3].") == 0
    # a citation after a name, in a later sentence, is a citation
    assert bare_citation("It is `pick_bool`, a helper. It is called [1].") == 0


def test_the_notes_say_what_is_not_from_the_files(tmp_path) -> None:
    hits = [Hit(i, t, str(tmp_path / f"n{i}.md"), f"n{i}.md", "md", "", 1, 3)
            for i, t in enumerate(SOURCES, 1)]  # fmt: skip
    done = Done(content="It is `useState` [1].", grounding="sources", sources=hits,
                citations=[1], unsupported=["useState"])  # fmt: skip
    assert any("names `useState`" in n and "not your files" in n for n in done.notes)
    uncited = Done(content="It is `useState`.", grounding="sources", sources=hits,
                   unsupported=["useState"])  # fmt: skip
    assert not any("cites no source" in n for n in uncited.notes)  # the stronger note only
    bare = Done(content="It is [2].", grounding="sources", sources=hits, citations=[2], bare=2)
    assert any("gives source [2] where the name you asked for should be" in n for n in bare.notes)


def test_a_resumed_answer_shows_the_names_no_source_holds(tmp_path) -> None:
    from types import SimpleNamespace

    from ragterm.tui.chat_rendering import stored_notes

    hits = [Hit(i, t, str(tmp_path / f"n{i}.md"), f"n{i}.md", "md", "", 1, 3)
            for i, t in enumerate(SOURCES, 1)]  # fmt: skip
    saved = SimpleNamespace(
        role="assistant", grounding="sources", content="Use `pii_scrubber.run()` [2].",
        status="ok", sources=[h.to_dict() for h in hits],
    )  # fmt: skip
    notes = stored_notes(saved, "Which tool strips personal data?")
    assert any("names `pii_scrubber.run`" in n for n in notes)
    # a follow-up's answer may name what an earlier turn's sources held: not the model's own
    earlier = ["Sources: [1] ops.md:1-4\nRun pii_scrubber.run() on each dump.", "It is scrubbed."]
    notes = stored_notes(saved, "And how do I call it?", earlier)
    assert not any("names `pii_scrubber.run`" in n for n in notes)


def test_the_source_defining_the_name_beats_the_ones_using_it() -> None:
    # the 1.5B model's answer to "Which exception is raised when a color definition can't be
    # parsed?" over rich's source: style.py raises the exception, color.py defines it
    sources = [
        "style.py:80-95 class Style > def parse\n    except ColorParseError as error:\n"
        "        raise StyleSyntaxError(f'unable to parse {word!r}; {error}') from None",
        "style.py:120-130 class Style > def color\n    return ColorParseError",
        "color.py:20-24 class ColorParseError(Exception) — The color could not be parsed.\n"
        "class ColorParseError(Exception):\n    pass",
    ]
    q = "Which exception is raised when a color definition string can't be understood?"
    answer = "The exception is `ColorParseError`. It is raised by `Style.parse` in `style.py`."
    assert attribute(answer, q, sources) == [3]
    # a name the question has counts when the answer gives it: `group` for "into a Group"
    group = [
        "live.py:1-9 class Live\n    return Group(renderables)",
        "console.py:40-50 def group(fit)",
    ]
    q2 = "Which decorator turns a function that yields renderables into a Group?"
    assert attribute("It is `group`.", q2, group) == [2]


def test_an_answer_that_only_restates_the_question_names_nothing() -> None:
    from ragterm.engine.answer.attribution import names_nothing

    q = "Which pager class delegates to the pager program installed on the operating system?"
    assert names_nothing("The pager class delegates to the pager program installed on the "
                         "operating system. [2]", q)  # fmt: skip
    assert names_nothing("The pager class that delegates to the pager program is [2].", q)
    assert not names_nothing("The `SystemPager` class delegates to it [2].", q)
    assert not names_nothing("SystemPager delegates to the pager program.", q)
    assert not names_nothing("The files do not say.", q)  # a refusal is an answer
    assert not names_nothing("", q)
    # a name that is one of the question's words, backticked, is still a name
    assert not names_nothing("The decorator is `group` [1].", "Which decorator makes a Group?")
