"""Persona fine-tuning: datasets, LoRA training (PEFT / unsloth), GGUF export, a child process.

Only ``data`` and ``export`` work without the ``tune`` extra; ``train`` imports torch lazily and
``deps.require()`` says how to install what is missing.
"""
