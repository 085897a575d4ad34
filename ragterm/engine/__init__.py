"""The engine: models, chat, indexing, retrieval, tuning. Never imports textual or click."""
