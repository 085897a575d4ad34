"""The chunked answer-only loss equals the loss over full logits, gradients included."""

from __future__ import annotations

import pytest

from tests.engine.tune.helpers import EXAMPLES, PHRASE


@pytest.fixture(scope="module")
def bundled_peft():
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    from ragterm.engine.models.registry import bundled_chat_path, fingerprint
    from ragterm.engine.tune import train
    from ragterm.engine.tune.spec import Plan, TrainSpec

    gguf = bundled_chat_path()
    plan = Plan(
        spec=TrainSpec(name="loss", data="", rank=4, alpha=8),
        base_kind="gguf",
        base_path=str(gguf),
        target_path=str(gguf),
        base_model="smollm2-135m",
        fingerprint=fingerprint(gguf),
        architecture="llama",
        system_prompt="",
        run_dir="",
        dataset_file="",
        data_summary={},
        estimate={},
        device="cpu",
        warnings=[],
    )
    torch.manual_seed(0)
    model, tok = train.load_model(plan, "cpu", "peft")
    with torch.no_grad():  # a trained-looking adapter, so gradients reach both LoRA matrices
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    return model, tok


def batch_of(tok, n: int = 3):
    from ragterm.engine.tune.train import Encoder, collate
    from ragterm.engine.tune.training_data import Example

    enc = Encoder(tok, "You are a pirate.", 96)
    examples = [
        Example(
            [{"role": "user", "content": q}, {"role": "assistant", "content": f"{PHRASE}! {a}"}],
            "t",
        )
        for q, a in EXAMPLES[:n]
    ]
    return collate([enc.encode(e) for e in examples], tok.pad_token_id, "cpu")


def grads(model) -> dict:
    out = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out


def test_chunked_loss_and_gradients_equal_the_full_logits_loss(bundled_peft):
    import torch

    from ragterm.engine.tune.train import answer_loss, full_logits_loss, loss_sum

    model, tok = bundled_peft
    batch = batch_of(tok)
    full, n_full = full_logits_loss(model, batch)
    (full / n_full).backward()
    g_full = grads(model)
    chunked, n = answer_loss(model, batch, chunk=7)  # several chunks, a ragged last one
    (chunked / n).backward()
    g_chunked = grads(model)

    answer_tokens = int((batch["labels"][:, 1:] != -100).sum())
    assert n == n_full == answer_tokens
    assert answer_tokens < int(batch["attention_mask"].sum()) / 2  # prompts are not learned
    assert float(chunked.detach()) == pytest.approx(float(full.detach()), rel=1e-5)
    assert g_chunked.keys() == g_full.keys()
    assert any("lora_A" in k for k in g_full) and any("lora_B" in k for k in g_full)
    # float32 summation order differs across 30 layers of backward: compare at each tensor's scale
    for name, g in g_full.items():
        assert float((g_chunked[name] - g).abs().max()) <= 3e-3 * float(g.abs().max()), name
    flat_full = torch.cat([g.flatten() for g in g_full.values()])
    flat_chunked = torch.cat([g_chunked[k].flatten() for k in g_full])
    assert float(torch.nn.functional.cosine_similarity(flat_full, flat_chunked, dim=0)) > 0.99999
    # evaluation uses the same loss without building a graph
    value, count = loss_sum(model, batch)
    assert count == n and value == pytest.approx(float(full), rel=1e-5)


def test_a_batch_without_answer_tokens_costs_nothing(bundled_peft):
    from ragterm.engine.tune.train import answer_loss

    model, tok = bundled_peft
    batch = batch_of(tok, 2)
    batch["labels"][:] = -100
    loss, n = answer_loss(model, batch)
    assert n == 0 and float(loss) == 0.0
