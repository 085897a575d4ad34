"""A stand-in cross-encoder built from the bundled MiniLM (no reranker weights exist offline).

The bundled all-MiniLM-L6-v2 ONNX graph reads the (question, chunk) pair jointly, as a
cross-encoder does, and a few added nodes turn its token states into one logit per pair: the
cosine between the mean states of the question's tokens (token type 0) and the chunk's (type 1).
Same architecture and size as ms-marco-MiniLM-L-6-v2, so its latency is that model's; its
ranking is untrained for the task, so its quality figures mean nothing.
Laid out as a hub repository: ``onnx/model.onnx`` plus the tokenizer files.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def build(target: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    from ragterm.engine.embed import bundled_model_dir

    src = bundled_model_dir()
    model = onnx.load(str(src / "model.onnx"))
    g = model.graph
    hidden = g.output[0].name  # last_hidden_state (batch, seq, 384)

    def const(name: str, values: list[int]) -> None:
        g.initializer.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))

    const("ce_ax1", [1])
    const("ce_ax2", [2])
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["ce_am"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["token_type_ids"], ["ce_tt"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ce_tt", "ce_am"], ["ce_mb"]),
        helper.make_node("Sub", ["ce_am", "ce_mb"], ["ce_ma"]),
        helper.make_node("Unsqueeze", ["ce_ma", "ce_ax2"], ["ce_ma3"]),
        helper.make_node("Unsqueeze", ["ce_mb", "ce_ax2"], ["ce_mb3"]),
        helper.make_node("Mul", [hidden, "ce_ma3"], ["ce_ha"]),
        helper.make_node("Mul", [hidden, "ce_mb3"], ["ce_hb"]),
        helper.make_node("ReduceSum", ["ce_ha", "ce_ax1"], ["ce_sa"], keepdims=0),
        helper.make_node("ReduceSum", ["ce_hb", "ce_ax1"], ["ce_sb"], keepdims=0),
        helper.make_node("Mul", ["ce_sa", "ce_sb"], ["ce_ab"]),
        helper.make_node("ReduceSum", ["ce_ab", "ce_ax1"], ["ce_dot"], keepdims=1),
        helper.make_node("Mul", ["ce_sa", "ce_sa"], ["ce_aa"]),
        helper.make_node("ReduceSum", ["ce_aa", "ce_ax1"], ["ce_na2"], keepdims=1),
        helper.make_node("Mul", ["ce_sb", "ce_sb"], ["ce_bb"]),
        helper.make_node("ReduceSum", ["ce_bb", "ce_ax1"], ["ce_nb2"], keepdims=1),
        helper.make_node("Mul", ["ce_na2", "ce_nb2"], ["ce_n2"]),
        helper.make_node("Sqrt", ["ce_n2"], ["ce_n"]),
        helper.make_node("Div", ["ce_dot", "ce_n"], ["logits"]),
    ]
    g.node.extend(nodes)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 1]))
    (target / "onnx").mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target / "onnx" / "model.onnx"))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(src / name, target / name)
    shutil.copyfile(src / "config.json", target / "config.json")
    return target
