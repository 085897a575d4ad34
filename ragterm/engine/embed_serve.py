"""``python -m ragterm.engine.embed_serve``, the command the README and hints give: the server
itself is ``ragterm.engine.embed.embed_server``."""

from ragterm.engine.embed.embed_server import main

if __name__ == "__main__":
    raise SystemExit(main())
