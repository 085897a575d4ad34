"""LoRA adapters shipped with ragterm (GGUF); see scripts/train_rag_adapter.sh."""
