#!/usr/bin/env python
"""Serve an embedding model at an OpenAI-compatible /v1/embeddings (see ragterm.engine.embed_serve).

.venv/bin/python scripts/serve_embeddings.py --host 0.0.0.0 --port 8089
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragterm.engine.embed.embed_server import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
