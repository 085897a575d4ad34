"""Chat models: the registry of local GGUFs, the catalog, downloads, GGUF headers and the
llm/ backends that run them."""
