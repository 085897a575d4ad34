"""Files -> the index: walk a folder, parse each file, chunk it, embed what changed, store it."""
