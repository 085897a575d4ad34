"""The local backend: a GGUF model in llama.cpp (llama-cpp-python), with an optional LoRA."""

from __future__ import annotations

import ctypes
import re
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from ragterm.engine.models.llm.backend_base import CHATML, Message, SamplingParams
from ragterm.engine.models.llm.cpu_threads import physical_cores
from ragterm.engine.models.registry import read_gguf
from ragterm.errors import GenerationError, ModelError


class LocalLlama:
    """A GGUF model in llama.cpp (optionally with a LoRA adapter).

    Prompts are rendered by us and passed as token lists, so counts are exact and llama-cpp-python's
    prefix matching reuses the KV cache of the previous turn.
    """

    continues = True  # stream(prefix=...): an answer can be continued from text it already has

    def __init__(
        self,
        path: Path | str,
        *,
        name: str = "",
        n_ctx: int = 8192,
        threads: int = 0,
        gpu_layers: int = -1,
        lora_path: str | None = None,
        lora_scale: float = 1.0,
        flash_attn: bool = False,
    ) -> None:

        info = read_gguf(path)
        try:
            # lazy: llama_cpp loads only when this runs
            import llama_cpp
        except ImportError as exc:  # pragma: no cover
            raise ModelError(
                "llama-cpp-python is not installed", hint="pipx reinstall ragterm"
            ) from exc
        self.path = Path(path)
        self.name = name or info.name
        self.info = info
        ctx = min(n_ctx, info.context_length) if info.context_length else n_ctx
        offload = gpu_layers if llama_cpp.llama_supports_gpu_offload() else 0
        if lora_path:
            _check_adapter_file(lora_path)
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=ctx,
                n_threads=threads or physical_cores(),
                n_gpu_layers=offload,
                verbose=False,
                n_batch=min(512, ctx),
                flash_attn=flash_attn,
            )
        except Exception as exc:
            raise ModelError(
                f"llama.cpp cannot load {path}: {exc}",
                hint="the file may be damaged or need a newer llama.cpp; try "
                "another model (ragterm models list)",
            ) from exc
        self.n_ctx = self.llm.n_ctx()
        self.settings = (n_ctx, threads, gpu_layers)  # as asked, to tell whether a reload is needed
        self.n_threads = threads or physical_cores()
        self.gpu_layers = offload
        self.lora_path: str | None = None
        self.lora_scale = 1.0
        self._adapter: Any = None  # llama_adapter_lora_p of the loaded adapter
        self.adapter_on = False  # whether the loaded adapter is applied to the next answers
        self._template = self._make_formatter(info.chat_template or CHATML)
        self._system_ok = self._supports_system()
        self._stats: dict[str, float] = {}
        self._bos_text = self._token_text(self.llm.token_bos())
        self._specials: Any = None  # regex of the vocabulary's control-token texts, built lazily
        self._lock = threading.Lock()
        if lora_path:
            try:
                self.set_adapter(lora_path, lora_scale)
            except BaseException:
                self.close()
                raise

    # -- adapters --------------------------------------------------------------------------------

    def set_adapter(self, lora_path: str | Path | None, scale: float = 1.0) -> None:
        """Apply a GGUF LoRA adapter (``None`` removes it) to the loaded base, without reloading.

        Switching personas costs the adapter's load time, not the base model's. The KV cache was
        computed with the old weights, so it is dropped: the next turn evaluates its whole prompt.
        """
        # lazy: llama_cpp loads only when this runs
        import llama_cpp

        path = str(lora_path) if lora_path else None
        if path == self.lora_path and (path is None or scale == self.lora_scale):
            self.use_adapter(path is not None)  # it may have been switched out for a turn
            return
        with self._lock:
            new = None
            if path is not None:
                _check_adapter_file(path)
                new = llama_cpp.llama_adapter_lora_init(self.llm._model.model, path.encode())
                if not new:
                    raise ModelError(
                        f"llama.cpp cannot load the adapter {path} for {self.name}",
                        hint="it was probably trained for another model; train the persona again",
                    )
            rc = self._attach(new, scale)
            if rc:
                if new:
                    llama_cpp.llama_adapter_lora_free(new)
                raise ModelError(f"llama.cpp refused the adapter {path} (error {rc})")
            if self._adapter:
                llama_cpp.llama_adapter_lora_free(self._adapter)
            self._adapter = new
            self.lora_path, self.lora_scale = path, scale
            self.adapter_on = new is not None
            self.llm.reset()  # the cached keys/values belong to the old weights

    def use_adapter(self, on: bool) -> None:
        """Apply the loaded adapter to the next answers, or answer with the bare base (it stays
        loaded: switching back costs no file load).

        The retrieval adapter teaches short, quoted answers from sources; a turn without sources
        is general chat and gets the model as it was trained. Like ``set_adapter``, a switch drops
        the KV cache (its keys/values came from the other weights): the next prompt is evaluated
        whole, so a conversation pays that only on the turns where it switches.
        """
        if self._adapter is None or on == self.adapter_on:
            return
        with self._lock:
            rc = self._attach(self._adapter if on else None, self.lora_scale)
            if rc:
                raise ModelError(f"llama.cpp refused the adapter {self.lora_path} (error {rc})")
            self.adapter_on = on
            self.llm.reset()

    def _attach(self, adapter: Any, scale: float) -> int:
        """Make ``adapter`` (a loaded llama_adapter_lora_p, or None: none) the context's one
        adapter; llama.cpp's return code (0: done)."""

        # lazy: llama_cpp loads only when this runs
        import llama_cpp

        ctx = self.llm._ctx.ctx
        if adapter is None:
            return int(llama_cpp.llama_set_adapters_lora(ctx, None, 0, None))
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
        scales = (ctypes.c_float * 1)(scale)
        return int(llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales))

    # -- prompts ---------------------------------------------------------------------------------

    def _token_text(self, tok: int) -> str:
        if tok < 0:
            return ""
        return self.llm.detokenize([tok], special=True).decode("utf-8", "ignore")

    def _make_formatter(self, template: str) -> Any:
        # lazy: llama_cpp loads only when this runs
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        return Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(self.llm.token_eos()),
            bos_token=self._token_text(self.llm.token_bos()),
        )

    def _supports_system(self) -> bool:
        try:
            out = self._template(
                messages=[
                    {"role": "system", "content": "SYS-PROBE"},
                    {"role": "user", "content": "hi"},
                ]
            ).prompt
        except Exception:
            return False
        return "SYS-PROBE" in out

    def _defuse(self, text: str) -> str:
        """``text`` with the model's control-token strings broken up (a zero-width space after
        the first character), so they stay plain text.

        The prompt is tokenized with ``special=True`` (the template's own markers must become
        control tokens), so a file or a question containing "<|im_end|><|im_start|>system" would
        otherwise open a real system turn: a prompt injection that needs no persuasion at all.
        """
        if self._specials is None:
            # lazy: llama_cpp loads only when this runs
            import llama_cpp

            model = self.llm._model
            vocab = llama_cpp.llama_model_get_vocab(model.model)
            flags = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            texts = {
                model.token_get_text(i)
                for i in range(llama_cpp.llama_vocab_n_tokens(vocab))
                if llama_cpp.llama_vocab_get_attr(vocab, i) & flags
            }
            longest = sorted((t for t in texts if len(t) > 1), key=len, reverse=True)
            self._specials = re.compile("|".join(map(re.escape, longest))) if longest else False
        if not self._specials:
            return text
        return self._specials.sub(lambda m: m[0][0] + "\u200b" + m[0][1:], text)

    def render(self, messages: list[Message]) -> str:
        """The prompt text for ``messages`` in the model's own chat template (the messages'
        text can never produce a control token, see ``_defuse``)."""
        msgs = [{**m, "content": self._defuse(m["content"])} for m in messages]
        if not self._system_ok and msgs and msgs[0]["role"] == "system":
            system = msgs.pop(0)["content"]
            if msgs and msgs[0]["role"] == "user":  # Gemma-style: fold into the first user turn
                msgs[0]["content"] = f"{system}\n\n{msgs[0]['content']}"
            else:
                msgs.insert(0, {"role": "user", "content": system})
        try:
            return str(self._template(messages=msgs).prompt)
        except Exception as exc:
            raise GenerationError(
                f"the chat template of {self.name} failed: {exc}",
                hint="use another model or report the template",
            ) from exc

    def tokens(self, messages: list[Message], prefix: str = "") -> list[int]:
        """The prompt's tokens; ``prefix`` is the start of the answer, already written."""
        prompt = self.render(messages) + self._defuse(prefix)
        add_bos = bool(self.llm._model.add_bos_token()) and not (
            self._bos_text and prompt.startswith(self._bos_text)
        )
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self.tokens(messages))

    def count_text(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # -- generation ------------------------------------------------------------------------------

    def stream(
        self,
        messages: list[Message],
        params: SamplingParams,
        cancel: threading.Event | None = None,
        prefix: str = "",
    ) -> Generator[str, None, None]:
        tokens = self.tokens(messages, prefix)
        room = self.n_ctx - len(tokens)
        if room <= 0:
            raise GenerationError(
                f"the prompt ({len(tokens)} tokens) does not fit the {self.n_ctx}-token context"
            )
        max_tokens = max(1, min(params.max_tokens, room))
        cached_before = self._common_prefix(tokens)
        t0 = time.perf_counter()
        first: float | None = None
        n = 0
        with self._lock:
            perf0 = self._perf()
            it = self.llm.create_completion(
                prompt=tokens,
                max_tokens=max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                min_p=params.min_p,
                repeat_penalty=params.repeat_penalty,
                seed=None if params.seed < 0 else params.seed,
                stop=list(params.stop) or None,
                stream=True,
            )
            try:
                for chunk in it:
                    text = chunk["choices"][0]["text"]
                    if first is None:
                        first = time.perf_counter()
                    if text:
                        n += 1
                        yield text
                    if cancel is not None and cancel.is_set():
                        break
            except (RuntimeError, ValueError, OSError) as exc:
                self.llm.reset()  # a failed decode leaves the cache in an unknown state
                raise GenerationError(
                    f"llama.cpp failed while answering with {self.name}: {exc}",
                    hint="try again; if it persists, lower chat.context_length",
                ) from exc
            finally:
                # also when the caller stops iterating (cancel): stats of the partial answer
                close = getattr(it, "close", None)
                if close:
                    close()
                end = time.perf_counter()
                gen_s = end - (first or end)
                self._stats = {
                    "prompt_tokens": float(len(tokens)),
                    "cached_tokens": float(cached_before),
                    "completion_tokens": float(n),
                    "ttft_s": (first or end) - t0,
                    "total_s": end - t0,
                    "tokens_per_s": (n - 1) / gen_s if n > 1 and gen_s > 0 else 0.0,
                }
                perf1 = self._perf()
                if perf0 and perf1:
                    # what llama.cpp itself evaluated in batches: the uncached part of the prompt
                    self._stats["prompt_eval_tokens"] = float(perf1[0] - perf0[0])
                    self._stats["prompt_eval_s"] = (perf1[1] - perf0[1]) / 1000

    def _perf(self) -> tuple[int, float] | None:
        """llama.cpp's own counters: prompt tokens evaluated in batches, and their time (ms)."""
        try:
            # lazy: llama_cpp loads only when this runs
            import llama_cpp

            data = llama_cpp.llama_perf_context(self.llm._ctx.ctx)
            return int(data.n_p_eval), float(data.t_p_eval_ms)
        except (AttributeError, OSError):  # pragma: no cover - older bindings
            return None

    def _common_prefix(self, tokens: list[int]) -> int:
        n = 0
        for a, b in zip(self.llm._input_ids[: self.llm.n_tokens], tokens, strict=False):
            if a != b:
                break
            n += 1
        return n

    def last_stats(self) -> dict[str, float]:
        return dict(self._stats)

    def close(self) -> None:
        """Free the model, its context and adapter now (not whenever the GC gets to it)."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        with self._lock:
            if self._adapter:
                # lazy: llama_cpp loads only when this runs
                import llama_cpp

                self._attach(None, 0.0)
                llama_cpp.llama_adapter_lora_free(self._adapter)
                self._adapter = None
            llm.close()
            self.llm = None


def _check_adapter_file(path: str | Path) -> None:
    if not Path(path).is_file():
        raise ModelError(
            f"adapter file missing: {path}",
            hint="train the persona again or remove it (ragterm persona rm)",
        )
