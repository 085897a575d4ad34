"""Files that hold a credential behind an innocent name, one per kind detect-secrets knows, and
ordinary files that only look like they might (documentation examples, checksums, templates).

The credentials are assembled at run time, so this repository holds none a scanner would find.
Each secret file also carries ``SECRET_MARKER`` on another line: it must never reach the index or
a server (a file with a secret is skipped whole, never partly indexed).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.hostile import SECRET_MARKER


def _rand(n: int, alphabet: str, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"  # AWS's documented example key
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
GITHUB = "gh" + "p_" + _rand(36, ALNUM, 1)
GITLAB = "gl" + "pat-" + _rand(20, ALNUM, 2)
SLACK = "xo" + "xb-" + "263594206564-2343594206574-" + _rand(24, ALNUM.lower(), 3)
STRIPE = "sk" + "_live_" + _rand(24, ALNUM, 4)
JWT = (
    "ey" + "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    + "." + _rand(43, ALNUM, 5)
)  # fmt: skip
BASIC_AUTH_URL = "https://deploy:" + _rand(16, ALNUM, 6) + "@git.example.com/team/repo.git"
DB_PASSWORD = _rand(10, ALNUM, 7) + "!" + _rand(5, ALNUM, 8)
HEX_TOKEN = _rand(40, HEX, 9)


def pem_key(seed: int = 10) -> str:
    rng = random.Random(seed)
    body = base64.b64encode(bytes(rng.randrange(256) for _ in range(600))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    head, tail = "-----BEGIN RSA " + "PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"
    return "\n".join([head, *lines, tail])


def _pdf(lines: list[str]) -> bytes:
    from tests.engine.test_parse import make_pdf

    return make_pdf([lines])


def _docx(paras: list[str]) -> bytes:
    from tests.engine.test_parse import make_docx

    return make_docx([("p", p) for p in paras])


@dataclass
class Sample:
    name: str  # an innocent file name: no name rule catches it
    content: Callable[[], bytes]
    kind: str  # detect-secrets' name for what must be found
    line: str = ""  # where ("line 3", "page 1")


def _text(*lines: str) -> Callable[[], bytes]:
    return lambda: ("\n".join(lines) + "\n").encode()


SECRETS: list[Sample] = [
    Sample(
        "creds",
        _text(f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", f"# {SECRET_MARKER}a"),
        "AWS Access Key",
        "line 1",
    ),  # fmt: skip
    Sample(
        "aws-setup.md",
        _text(
            "# Setup",
            "",
            f"Note {SECRET_MARKER}b.",
            "",
            f"The key id is {AWS_KEY_ID} for the build user.",
        ),
        "AWS Access Key",
        "line 5",
    ),  # fmt: skip
    Sample(
        "notes.md",
        _text("# Release", "", f"Use {GITHUB} to push tags ({SECRET_MARKER}c)."),
        "GitHub Token",
        "line 3",
    ),  # fmt: skip
    Sample(
        "deploy.txt",
        _text(f"{SECRET_MARKER}d", f"runner token: {GITLAB}"),
        "GitLab Token",
        "line 2",
    ),  # fmt: skip
    Sample("chat-export.txt", _text(f"{SECRET_MARKER}e", f"bot: {SLACK}"), "Slack Token"),
    Sample(
        "billing.py",
        _text(f'"""Billing ({SECRET_MARKER}f)."""', f'STRIPE = "{STRIPE}"'),
        "Stripe Access Key",
        "line 2",
    ),  # fmt: skip
    Sample(
        "session.txt", _text(f"{SECRET_MARKER}g", f"Authorization: Bearer {JWT}"), "JSON Web Token"
    ),  # fmt: skip
    Sample(
        "todo.md",
        _text("# Todo", "", f"- renew ({SECRET_MARKER}h)", "", "```", pem_key(), "```"),
        "Private Key",
        "line 6",
    ),  # fmt: skip
    Sample(
        "remotes.txt",
        _text(f"{SECRET_MARKER}i", f"origin {BASIC_AUTH_URL}"),
        "Basic Auth Credentials",
    ),  # fmt: skip
    Sample(
        "settings.yaml",
        _text(f"# {SECRET_MARKER}j", "db:", "  host: db.internal", f"  password: {DB_PASSWORD}"),
        "Secret Keyword",
        "line 4",
    ),  # fmt: skip
    Sample(
        "service.ini",
        _text("[api]", f"# {SECRET_MARKER}k", f'api_token = "{HEX_TOKEN}"'),
        "Hex High Entropy String",
        "line 3",
    ),  # fmt: skip
    Sample(
        "report.pdf",
        lambda: _pdf(
            [
                "Quarterly build costs.",
                f"Marker {SECRET_MARKER}l.",
                f"Key id {AWS_KEY_ID} rotates in May.",
            ]
        ),
        "AWS Access Key",
        "page 1",
    ),  # fmt: skip
    Sample(
        "memo.docx",
        lambda: _docx([f"Memo {SECRET_MARKER}m.", f"Token: {GITHUB}"]),
        "GitHub Token",
        "paragraph 2",
    ),  # fmt: skip
]

# Ordinary files that look a little like secrets: none may be skipped.
ORDINARY: dict[str, str] = {
    "basic-auth-docs.md": "URLs may carry credentials: http://user:pass@host:port/path.\n",
    "urllib-example.py": (
        "auth_handler.add_password(realm='PDQ Application',\n"
        "                          uri='https://mahler:8092/site-updates.py',\n"
        "                          user='klem',\n"
        "                          passwd='kadidd!ehopper')\n"
    ),
    "ssl-docs.md": (
        "A PEM file holds the key and then the certificate:\n\n"
        "-----BEGIN RSA " + "PRIVATE KEY-----\n... (private key in base64 encoding) ...\n"
        "-----END RSA PRIVATE KEY-----\n"
    ),
    "checksums.toml": (
        '[[files]]\nname = "model.gguf"\n'
        f'sha256 = "{_rand(64, HEX, 11)}"\n'
        f'md5 = "{_rand(32, HEX, 12)}"\n'
    ),
    "config-template.yaml": (
        "api_key: ${API_KEY}\npassword: <your password>\ntoken: {{ vault_token }}\n"
        "secret_key: changeme\n"
    ),
    "code.py": (
        "password = os.environ['DB_PASSWORD']\n"
        "api_key = settings.get('api_key')\n"
        "token = get_token(user)\n"
        "secret = None\n"
    ),
    "ids.txt": (
        f"request id 3f2b8c1e-4d5a-4b6c-8e7f-{_rand(12, HEX, 13)}\n"
        "sequence ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n"
        f"commit {_rand(40, HEX, 14)}\n"
    ),
    "readme-examples.md": (  # placeholders from installed packages' READMEs (loguru, openai)
        'notifier = apprise.Apprise()\nWEBHOOK_TOKEN = "abc123def456"\n\n'
        'Add `OPENAI_API_KEY="My API Key"` to your `.env` file.\n'
        "api_key: your-api-key-here\n"
    ),
    "prose.md": (
        "# Passwords\n\nA password manager keeps each secret key safe; never reuse a password.\n"
        "The API key goes in the settings screen, the token is refreshed hourly.\n"
    ),
}
