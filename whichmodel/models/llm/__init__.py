"""The ``llm`` family: a language model prompted to choose a label, zero-shot or k-shot.

Modules, one concept each: `prompt` (template, labels, examples, shot selection),
`answers` (answer text → label, logprobs → probabilities), `api_backend` (an
OpenAI-compatible client with bounded concurrency, retries and backoff),
`answer_cache` (answers on disk, so a rerun pays once), `local_backend` (a causal LM
scoring every label through transformers) and `model` (`LLMClassifier`).
"""

from whichmodel.models.llm.model import LLMClassifier

__all__ = ["LLMClassifier"]
