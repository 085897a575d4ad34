"""A folder of hostile files, generated at run time (nothing binary lives in the repository).

``build(root)`` returns, for each top-level name, what the indexer must do with it: "indexed",
"skipped" or "failed" (with a reason), or "reported" (skipped or failed, either is right), plus a
reason fragment to look for. Secrets carry a marker that must never reach the index, and so does
the folder next to ``root`` that symlinks inside it lead to (it must never be read).
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

SECRET_MARKER = "zqxsecretmarker"


@dataclass
class Expect:
    outcome: str  # indexed | skipped | failed | reported
    reason: str = ""  # a fragment of the reason shown to the user


def _docx(text: str) -> bytes:
    import docx

    d = docx.Document()
    for para in text.split("\n\n"):
        d.add_paragraph(para)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def _pdf(lines: list[str]) -> bytes:
    from tests.engine.test_parse import make_pdf

    return make_pdf([lines, lines])


def build(root: Path, *, long_line_mb: int = 21, seed: int = 0) -> dict[str, Expect]:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    expect: dict[str, Expect] = {}

    def put(name: str, data: bytes | str, outcome: str, reason: str = "") -> None:
        p = root / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        expect[name] = Expect(outcome, reason)

    put("good.md", "# Lighthouse\n\nThe keeper trims the wick at dusk.\n", "indexed")
    put("binary.bin", bytes(rng.randrange(256) for _ in range(64 * 1024)), "skipped", "binary")
    put("latin1.txt", "Caf\xe9 cr\xe8me br\xfbl\xe9e, na\xefve fa\xe7ade.\n".encode("latin-1") * 20,
        "indexed")  # fmt: skip
    put("invalid-utf8.txt", b"valid start \xff\xfe\xfd broken \xc3\x28 middle \xa0\xa1 end\n" * 50,
        "indexed")  # fmt: skip
    put("utf16.txt", "Harbour pilots board ships at the breakwater.\n".encode("utf-16"), "indexed")
    put("empty.txt", b"", "skipped", "empty")
    put("only-spaces.txt", b"   \n\n\t\n", "skipped", "empty")
    put("nul-in-text.txt", b"text with a NUL\x00 in it\n" * 10, "skipped", "binary")
    os.mkfifo(root / "pipe.txt")
    expect["pipe.txt"] = Expect("skipped", "named pipe")
    os.symlink(root, root / "loop")
    expect["loop/"] = Expect("skipped", "symlink loop")
    os.symlink("/dev/zero", root / "zero.txt")  # a device, and outside the folder: never opened
    expect["zero.txt"] = Expect("skipped", "leads outside the folder")
    os.symlink(root / "does-not-exist", root / "dangling.txt")
    expect["dangling.txt"] = Expect("skipped", "broken symlink")
    pdf = _pdf(["Tide tables for the northern harbour."] * 3)
    put("truncated.pdf", pdf[: len(pdf) // 2], "reported")
    doc = _docx("Storm warnings go up at noon.\n\nThe ferry waits.")
    put("truncated.docx", doc[: len(doc) // 2], "failed", "not a valid DOCX")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with zipfile.ZipFile(io.BytesIO(doc)) as src:
            for item in src.infolist():
                if item.filename != "word/document.xml":
                    z.writestr(item, src.read(item))
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0"?><w:document xmlns:w="x"><w:body>')
            block = b" " * 2**20
            for _ in range(200):
                f.write(block)
            f.write(b"</w:body></w:document>")
    put("bomb.docx", bomb.getvalue(), "failed", "zip bomb")
    with open(root / "long-line.txt", "wb") as f:
        chunk = b"lighthouse " * (2**20 // 11)
        for _ in range(long_line_mb):
            f.write(chunk)
    expect["long-line.txt"] = Expect("skipped", "too large")
    put("repeated-line.txt", "the beam sweeps the bay " * 40_000, "indexed")  # ~1 MB, one line
    put("new\nline.txt", "A file name with a newline in it.\n", "indexed")
    bad = os.fsdecode(b"bad\xffname.txt")
    (root / bad).write_text("Invalid bytes in the name.\n")
    expect["bad\\xffname.txt"] = Expect("skipped", "not valid UTF-8")
    put(".env", f"API_TOKEN={SECRET_MARKER}1\n", "skipped", "secret")
    put("id_rsa", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET_MARKER}2\n-----END OPENSSH "
        "PRIVATE KEY-----\n", "skipped", "secret")  # fmt: skip
    put("server.pem", f"-----BEGIN CERTIFICATE-----\n{SECRET_MARKER}3\n", "skipped", "secret")
    put("notes-with-key.txt", f"-----BEGIN RSA PRIVATE KEY-----\n{SECRET_MARKER}4\n-----END RSA "
        "PRIVATE KEY-----\n", "skipped", "private key")  # fmt: skip
    (root / ".ssh").mkdir()
    (root / ".ssh" / "config").write_text(f"Host x\n  IdentityFile {SECRET_MARKER}5\n")
    expect[".ssh/"] = Expect("skipped", "secrets folder")
    # symlinks out of the folder (a cloned repository or an unpacked archive can carry them)
    outside = root.parent / f"{root.name}-outside"
    (outside / "dir").mkdir(parents=True, exist_ok=True)
    (outside / "shadow").write_text(f"root:$6$salt$hash:19000:0:99999:7::: {SECRET_MARKER}6\n")
    (outside / "dir" / "plans.md").write_text(f"# Plans\n\nThe vault code is {SECRET_MARKER}7.\n")
    for name, target in (("shadowlink", outside / "shadow"), ("linkdir", outside / "dir"),
                         ("relative.txt", Path("..") / outside.name / "shadow")):  # fmt: skip
        os.symlink(target, root / name)
        expect[name + ("/" if name == "linkdir" else "")] = Expect("skipped", OUT_OF_ROOT)
    # credentials by content, behind innocent names; and ordinary files that only look like them
    from tests.faults.secret_samples import ORDINARY, SECRETS

    for sample in SECRETS:
        put(sample.name, sample.content(), "skipped", f"contains a secret ({sample.kind}")
    for name, text in ORDINARY.items():
        put(name, text, "indexed")
    return expect


OUT_OF_ROOT = "leads outside the folder"


def out_of_root(expect: dict[str, Expect]) -> list[str]:
    """The names in ``expect`` that are symlinks out of the folder."""
    return [n for n, e in expect.items() if e.reason == OUT_OF_ROOT]


def secret_kinds(expect: dict[str, Expect]) -> list[str]:
    """The detect-secrets kinds the corpus holds, one per file with a secret inside."""
    return [e.reason.split("(", 1)[1] for e in expect.values() if "contains a secret (" in e.reason]
