"""PDF: the text layer, page by page; hits cite ``#page=N``."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from ragterm.engine.index.parse.blocks import Block, Parsed, ParseFailed, SkipFile
from ragterm.engine.index.parse.text import paragraphs


def parse(data: bytes, path: Path) -> Parsed:
    try:
        # lazy: pypdf loads only when this runs
        from pypdf import PdfReader
        from pypdf.errors import FileNotDecryptedError, PdfReadError
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ParseFailed("pypdf is not installed") from exc
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed files warn per object
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = bool(reader.decrypt(""))  # PasswordType.NOT_DECRYPTED is 0
            except Exception:  # noqa: BLE001 - pypdf raises many kinds here
                ok = False
            if not ok:
                raise SkipFile("encrypted PDF (needs a password)")
        pages = list(reader.pages)
    except SkipFile:
        raise
    except FileNotDecryptedError:
        raise SkipFile("encrypted PDF (needs a password)") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ParseFailed(f"malformed PDF: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pypdf's failure modes on bad input are open-ended
        raise ParseFailed(f"malformed PDF: {type(exc).__name__}: {exc}") from None
    title = ""
    try:
        meta = reader.metadata
        title = str(meta.title or "") if meta else ""
    except Exception:  # noqa: BLE001
        title = ""
    blocks: list[Block] = []
    failed_pages = 0
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception:  # noqa: BLE001 - one bad page must not lose the others
            failed_pages += 1
            continue
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "")
        for b in paragraphs(text.split("\n")):
            blocks.append(Block(b.text, page=number, heading=title, lines_exact=False))
    if not blocks:
        if failed_pages:
            raise ParseFailed(f"no page of the PDF could be read ({failed_pages} failed)")
        raise SkipFile("PDF has no text layer (scanned? run OCR first)")
    return Parsed("pdf", blocks, title=title)
