"""Secrets by content: detect-secrets' plugins and filters, over the text a file is indexed with.

Why not a pattern list of our own: detect-secrets is maintained (AWS, GitHub, GitLab, Slack,
Stripe, JWT, private keys, basic-auth URLs, keyword assignments, high-entropy strings...) and its
heuristic filters (templates, ``$VAR``, indirect references, UUIDs, sequences) are what keeps its
false positives down. Why not its ``scan_file``: it runs every plugin's regex on every line
through a dependency injector, about 0.2 MB/s here, slower than the embedding it would guard.

So each plugin runs only on the lines that hold a literal its own patterns require (``GATES``:
``AKIA`` for an AWS key id, ``ghp_`` for a GitHub token, ``private key`` for a PEM header...),
found with ``str.find`` over the whole text; a plugin without a gate here (a newer detect-secrets)
runs its patterns over the whole text, so nothing is missed, only slower. Choices, measured on the
pydocs corpus and ragterm's own source (docs/benchmarks.md):

- the high-entropy plugins (detect-secrets' defaults: base64 above 4.5 bits, hex above 3.0) run
  only on lines that hold a key word (key, pass, pw, token, secret, cred): anywhere else they
  flag checksums and content hashes, which are not secrets;
- a ``KEY=value`` line with an unquoted single-word value is also read as ``KEY = "value"``, as
  detect-secrets' config-file transformer does, so ``AWS_SECRET_ACCESS_KEY=wJalr…`` in a file
  named ``creds`` is caught (not done for program code, where ``password = other_name`` is code);
- the public-IP plugin is left out: an address is not a credential.

Nothing here touches the network: detect-secrets can *verify* a secret against its service, and
that filter is never enabled.
"""

from __future__ import annotations

import bisect
import importlib
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from ragterm.engine.index.parse import Parsed

# Key words that put a line in front of the keyword and high-entropy plugins (lower case; every
# detect-secrets keyword contains one of them: api_key, db_pass, passwd, pwd, secret, contraseña).
KEY_WORDS = ("key", "pass", "pw", "token", "secret", "contrase", "cred")
SKIPPED_PLUGINS = frozenset({"IPPublicDetector"})
# Plugins that judge a value by what surrounds it, not by its format: their value must also look
# random to detect-secrets' gibberish model (a documentation example, "user:pass@host" or
# passwd='kadidd!ehopper', does not). Format plugins (AWS, GitHub...) skip that filter: it would
# pass over AWS's own documented example key (wJalr…EXAMPLEKEY), which must be caught.
WORDY_PLUGINS = frozenset({"KeywordDetector", "BasicAuthDetector"})
GENERIC_PLUGINS = frozenset({"KeywordDetector", "Base64HighEntropyString", "HexHighEntropyString"})


@dataclass(frozen=True)
class Gate:
    """Literals one of which a plugin's match always contains: ``cs`` as written, ``lc`` in
    lower case. Derived by hand from each plugin's patterns; a plugin missing here is run on the
    whole text."""

    cs: tuple[str, ...] = ()
    lc: tuple[str, ...] = ()


# fmt: off
GATES: dict[str, Gate] = {
    "ArtifactoryDetector": Gate(cs=("AKC", "AP")),
    "AWSKeyDetector": Gate(cs=("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), lc=("aws",)),
    "AzureStorageKeyDetector": Gate(cs=("AccountKey=",)),
    "BasicAuthDetector": Gate(cs=("://",)),
    "CloudantDetector": Gate(lc=("key", "pw", "pass", "token", "cloudant.com")),
    "GitHubTokenDetector": Gate(cs=("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    "GitLabTokenDetector": Gate(cs=("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941",
                                    "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-")),
    "IbmCloudIamDetector": Gate(lc=("key", "pw", "pass", "token")),
    "IbmCosHmacDetector": Gate(lc=("secret",)),
    "JwtTokenDetector": Gate(cs=("eyJ",)),
    "MailchimpDetector": Gate(cs=("-us",)),
    "NpmDetector": Gate(cs=("_authToken",)),
    "OpenAIDetector": Gate(cs=("T3BlbkFJ",)),
    "PrivateKeyDetector": Gate(cs=("PRIVATE KEY", "PuTTY-User-Key-File")),
    "PypiTokenDetector": Gate(cs=("pypi-",)),
    "SendGridDetector": Gate(cs=("SG.",)),
    "SlackDetector": Gate(lc=("xox", "hooks.slack.com")),
    "SoftlayerDetector": Gate(lc=("key", "pw", "pass", "token", "softlayer")),
    "SquareOAuthDetector": Gate(cs=("sq0csp-",)),
    "StripeDetector": Gate(cs=("k_live_",)),
    "TwilioKeyDetector": Gate(cs=("AC", "SK")),
    # detect-secrets' keywords: api_?key, auth_?key... priv_?key, db_?pass, password, pwd, secret
    "KeywordDetector": Gate(lc=tuple(
        f"{w}{sep}key"
        for w in ("api", "auth", "service", "account", "db", "database", "priv", "private",
                  "client")
        for sep in ("", "_")
    ) + ("pass", "pwd", "secret", "contrase")),
    # high-entropy strings: only next to a key word
    "Base64HighEntropyString": Gate(lc=KEY_WORDS),
    "HexHighEntropyString": Gate(lc=KEY_WORDS),
}
# fmt: on
# Discord and Telegram tokens share no literal; their own patterns over the text are fast enough.

WINDOW = 400  # characters each side of a gate hit examined on a very long line
LONG_LINE = 4000
# `NAME=value` / `name: value` with an unquoted one-word value (no call, no template, no $VAR)
_UNQUOTED = re.compile(
    r"""^\s*(?:export\s+|set\s+)?([A-Za-z_][\w.\-]*)\s*(?::|=)\s*([^\s"'`$<({\[][^\s"'`()]*)\s*$"""
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
SHELL_LANGUAGES = frozenset({"shell", "powershell"})


@dataclass(frozen=True)
class Finding:
    """One detected secret: detect-secrets' name for its kind, and where it is."""

    kind: str  # "AWS Access Key", "Private Key", "Secret Keyword"...
    line: int | None = None
    page: int | None = None
    paragraph: int | None = None

    @property
    def where(self) -> str:
        if self.line is not None:
            return f"line {self.line}"
        if self.page is not None:
            return f"page {self.page}"
        return f"paragraph {self.paragraph}" if self.paragraph is not None else "the text"

    def reason(self, more: int = 0) -> str:
        """The report line: which kind, where, and the setting that would index it anyway."""
        extra = f" and {more} more" if more else ""
        return f"contains a secret ({self.kind}, {self.where}{extra}; index.include_secrets)"


class _Detector:
    """detect-secrets' plugins (instantiated once) with their gates and default filters."""

    def __init__(self) -> None:
        # lazy: detect_secrets loads only when this runs
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.base import RegexBasedDetector
        from detect_secrets.settings import Settings, get_settings

        # never verify a secret against its service (that filter makes network calls)
        get_settings().disable_filters(
            "detect_secrets.filters.common.is_ignored_due_to_verification_policies"
        )
        # format plugins first: "GitHub Token" says more than "Base64 High Entropy String"
        classes: list[Any] = sorted(
            get_mapping_from_secret_type_to_class().values(),
            key=lambda c: (c.__name__ in GENERIC_PLUGINS, c.__name__),
        )
        self.plugins = [c() for c in classes if c.__name__ not in SKIPPED_PLUGINS]
        self.gates = [GATES.get(type(p).__name__) for p in self.plugins]
        self.own = [p.denylist if isinstance(p, RegexBasedDetector) else () for p in self.plugins]
        self.filters = [_import(path) for path in sorted(Settings().filters)
                        if path not in Settings.DEFAULT_FILTERS]  # fmt: skip
        # lazy: detect_secrets loads only when this runs
        from detect_secrets.filters import gibberish

        gibberish.initialize()  # detect-secrets' own model and limit (3.7)
        self.gibberish = gibberish.should_exclude_secret

    def filtered(self, secret: str, line: str, plugin: Any, name: str, context: Any) -> bool:
        """Does one of detect-secrets' default filters rule this candidate out?"""
        have = {"secret": secret, "line": line, "plugin": plugin, "filename": name,
                "context": context}  # fmt: skip
        for fn, wants in self.filters:
            if not wants <= have.keys():  # a filter needing what a line scan does not have
                continue
            if fn(**{k: have[k] for k in wants}):
                return True
        kind = type(plugin).__name__
        if kind in GENERIC_PLUGINS and placeholder(secret, line):
            return True
        return kind in WORDY_PLUGINS and bool(self.gibberish(secret, plugin))


_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# words around a name in a documented example value: "your API key here", "My API Key"
FILLER = frozenset(
    "my your our the a an here this that goes in put insert enter replace with example sample "
    "dummy fake test some value string secret".split()
)
_ALPHABETS = ("abcdefghijklmnopqrstuvwxyz", "0123456789")


def placeholder(value: str, line: str) -> bool:
    """A documentation example, not a credential (generic plugins only; a format plugin's match
    has a real token's shape): ascending runs (``abc123def456``) or only words its line holds
    (``OPENAI_API_KEY="My API Key"``); 2 of 134 installed READMEs were skipped whole for them."""
    low = value.lower()
    if len(low) >= 6 and _ascending_runs(low):
        return True
    words = [w.lower() for w in _WORD.findall(value)]
    if len(words) < 2:
        return False
    rest = line.replace(value, " ")
    around = {w.lower() for w in _WORD.findall(rest)}
    return all(w in around or w in FILLER for w in words) and any(w in around for w in words)


def _ascending_runs(text: str) -> bool:
    """``text`` is runs of 3 or more consecutive letters or digits, nothing else."""
    i = 0
    while i < len(text):
        alphabet = next((a for a in _ALPHABETS if text[i] in a), None)
        if alphabet is None:
            return False
        j = i + 1
        while (
            j < len(text)
            and text[j] in alphabet
            and (alphabet.index(text[j]) == alphabet.index(text[j - 1]) + 1)
        ):
            j += 1
        if j - i < 3:
            return False
        i = j
    return True


def _import(path: str) -> tuple[Any, frozenset[str]]:
    """A filter function and the argument names it takes (detect-secrets injects by name)."""

    # lazy: detect_secrets loads only when this runs
    from detect_secrets.util.inject import get_injectable_variables

    module, _, attr = path.rpartition(".")
    fn = getattr(importlib.import_module(module), attr)
    return fn, frozenset(get_injectable_variables(fn))


_DETECTOR: _Detector | None = None
_LOCK = threading.Lock()


def _detector() -> _Detector:
    global _DETECTOR
    with _LOCK:
        if _DETECTOR is None:
            _DETECTOR = _Detector()
        return _DETECTOR


def _hits(text: str, needle: str) -> Iterator[int]:
    i = text.find(needle)
    while i != -1:
        yield i
        i = text.find(needle, i + 1)


def scan_lines(
    lines: Sequence[str], name: str, *, config_lines: bool = True, limit: int = 0
) -> list[tuple[str, int]]:
    """(kind, 0-based line index) of each secret in ``lines``, in line order; ``name`` (the file's
    name) picks detect-secrets' rules for its type. ``limit`` > 0 stops after that many.

    ``config_lines``: also read an unquoted ``KEY=value`` as ``KEY = "value"`` (not for code).
    """
    # lazy: detect_secrets loads only when this runs
    from detect_secrets.util.code_snippet import get_code_snippet

    det = _detector()
    text = "\n".join(lines)
    starts = list(accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    low = text.lower()
    if len(low) != len(text):  # a few letters grow when lower-cased (İ): keep offsets aligned
        low = text.translate(_ASCII_LOWER)
    # line index -> plugin index -> offsets in the line of the gate hits
    todo: dict[int, dict[int, list[int]]] = {}

    def add(pos: int, plugin: int) -> None:
        at = bisect.bisect_right(starts, pos) - 1
        todo.setdefault(at, {}).setdefault(plugin, []).append(pos - starts[at])

    found_cs: dict[str, list[int]] = {}
    found_lc: dict[str, list[int]] = {}
    for k, gate in enumerate(det.gates):
        if gate is None:
            if det.own[k]:
                for rx in det.own[k]:
                    for m in rx.finditer(text):
                        add(m.start(), k)
            else:
                for i in range(len(lines)):
                    todo.setdefault(i, {}).setdefault(k, []).append(0)
            continue
        for needle in gate.cs:
            if needle not in found_cs:
                found_cs[needle] = list(_hits(text, needle))
            for pos in found_cs[needle]:
                add(pos, k)
        for needle in gate.lc:
            if needle not in found_lc:
                found_lc[needle] = list(_hits(low, needle))
            for pos in found_lc[needle]:
                add(pos, k)
    out: list[tuple[str, int]] = []
    seen: dict[tuple[str, str], list[str]] = {}  # a line repeated is judged once (with the line
    for i in sorted(todo):  # before it, which can hold a "pragma: allowlist nextline" comment)
        line = lines[i]
        key = (lines[i - 1] if i else "", line)
        if key not in seen:
            seen[key] = _scan_line(
                det, line, i, todo[i], lines, name, config_lines, get_code_snippet
            )
        out.extend((kind, i) for kind in seen[key])
        if limit and len(out) >= limit:
            break
    return out


def _pieces(line: str, offsets: list[int]) -> list[str]:
    """The line itself, or on a very long line the windows around the gate hits."""
    if len(line) <= LONG_LINE:
        return [line]
    spans: list[list[int]] = []
    for off in sorted(offsets):
        lo, hi = max(0, off - WINDOW), min(len(line), off + WINDOW)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = hi
        else:
            spans.append([lo, hi])
    out = []
    for lo, hi in spans:
        for a in range(lo, hi, LONG_LINE - WINDOW):
            out.append(line[a : min(hi, a + LONG_LINE)])
    return out


def _scan_line(
    det: _Detector,
    line: str,
    index: int,
    plugins: dict[int, list[int]],
    lines: Sequence[str],
    name: str,
    config_lines: bool,
    snippet: Any,
) -> list[str]:
    context = snippet(list(lines[max(0, index - 5) : index + 6]), min(index, 5) + 1)
    kinds: list[str] = []
    for k, offsets in plugins.items():
        plugin = det.plugins[k]
        variants = _pieces(line, offsets)
        if config_lines and len(line) <= LONG_LINE:
            m = _UNQUOTED.match(line)
            if m:
                variants.append(f'{m.group(1)} = "{m.group(2)}"')
        if type(plugin).__name__ == "PrivateKeyDetector" and not _key_material(lines, index):
            continue  # a header with no key after it: documentation ("... key in base64 ...")
        for piece in variants:
            for secret in plugin.analyze_line(
                filename=name, line=piece, line_number=index + 1, context=context
            ):
                value = secret.secret_value or ""
                if not det.filtered(value, piece, plugin, name, context):
                    kinds.append(plugin.secret_type)
                    break
            if kinds and kinds[-1] == plugin.secret_type:
                break
    return kinds


_KEY_BODY = re.compile(r"[A-Za-z0-9+/=]{40,}")


def _key_material(lines: Sequence[str], index: int) -> bool:
    """Base64 key material right after a private-key header (the same line, as in a JSON
    service-account file, or the next lines)."""
    return any(_KEY_BODY.search(line) for line in lines[index : index + 10])


def scan_parsed(parsed: Parsed, name: str) -> list[Finding]:
    """The secrets in what a parsed file would index, with their line (or page, paragraph)."""
    lines: list[str] = []
    owner: list[int] = []  # line index -> block index
    for b, block in enumerate(parsed.blocks):
        part = block.text.split("\n")
        lines.extend(part)
        owner.extend([b] * len(part))
    if not lines:
        return []
    config = parsed.kind != "code" or parsed.language in SHELL_LANGUAGES
    findings = []
    for kind, i in scan_lines(lines, name, config_lines=config):
        block = parsed.blocks[owner[i]]
        first = owner.index(owner[i])
        line = None
        if block.start_line is not None:
            line = block.start_line + (i - first if block.lines_exact else 0)
        paragraph = owner[i] + 1 if line is None and block.page is None else None
        findings.append(Finding(kind, line=line, page=block.page, paragraph=paragraph))
    return findings


def secret_reason(parsed: Parsed, name: str) -> str | None:
    """Why the file must not be indexed (its first secret, and how many more), or None."""
    found = scan_parsed(parsed, name)
    return found[0].reason(len(found) - 1) if found else None
