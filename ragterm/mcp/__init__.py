"""The index for other programs: ``ragterm mcp``, a Model Context Protocol server (server.py)."""
