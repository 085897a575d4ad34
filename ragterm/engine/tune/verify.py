"""After training: llama.cpp loads the exported adapter and answers (the smoke test)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ragterm.engine.tune.encode import Encoder
from ragterm.engine.tune.training_data import Example
from ragterm.errors import TuningError


def smoke_test(
    model_path: str | Path, adapter: Path, enc: Encoder, examples: list[Example]
) -> dict[str, Any]:
    """Load the GGUF adapter in llama.cpp, generate a few tokens, and score held-out replies.

    A persona is never reported ready unless this passes: it is exactly what the chat will do.
    """
    # lazy: llama_cpp, numpy load only when this runs
    import llama_cpp
    import numpy as np

    try:
        llm = llama_cpp.Llama(
            model_path=str(model_path),
            lora_path=str(adapter),
            n_ctx=max(512, min(4096, enc.max_len + 64)),
            logits_all=True,
            verbose=False,
            # one thread for small models: llama.cpp's spinning threads crawl on a busy machine
            n_threads=1 if Path(model_path).stat().st_size < 2**29 else min(4, os.cpu_count() or 1),
        )
    except Exception as exc:
        raise TuningError(
            f"llama.cpp cannot load the exported adapter {adapter}: {exc}",
            hint="this is a bug in the exporter for this model; please report it",
        ) from exc
    prompt = enc.prompt_ids(examples[0].messages[:-1] if examples else [])
    if not examples:
        prompt = enc.prompt_ids([{"role": "user", "content": "Hello!"}])
    out: list[int] = []
    for t in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
        if t == llm.token_eos() or len(out) >= 16:
            break
        out.append(t)
    sample = llm.detokenize(out).decode("utf-8", "replace")
    total, count = 0.0, 0
    for ex in examples:
        ids, labels = enc.encode(ex)
        if len(ids) + 1 > llm.n_ctx():
            continue
        llm.reset()
        llm.eval(ids)
        scores = np.asarray(llm.scores[: len(ids)], dtype=np.float64)
        for pos in range(1, len(ids)):
            if labels[pos] == -100:
                continue
            row = scores[pos - 1]
            m = row.max()
            total += m + math.log(np.exp(row - m).sum()) - row[ids[pos]]
            count += 1
    llm.close()
    gguf_loss = total / count if count else None
    return {"smoke_sample": sample, "gguf_val_loss": gguf_loss}
