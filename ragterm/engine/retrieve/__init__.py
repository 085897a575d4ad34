"""A question -> the chunks that answer it: hybrid search, reranking, follow-up rewriting,
evidence lines, and the ``Hit`` they pass along."""
