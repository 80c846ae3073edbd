"""An OpenAI-compatible chat-completions client that loses no item and pays once.

* **Bounded concurrency**: at most ``max_concurrency`` requests in flight (a thread pool
  over one `httpx.Client`), what a provider's rate limit and a local server's slots take.
* **Retries**: a timeout, a connection error, HTTP 429 and 5xx, and a 200 whose body is
  not a chat completion are retried up to ``max_retries`` times, after exponential
  backoff with jitter (``retry_backoff_s`` × 2^attempt, × 0.5–1) or, when the server
  says, its ``Retry-After`` (capped at `MAX_RETRY_AFTER_S`). Other 4xx are not retried:
  the same request would fail the same way.
* **Features the server lacks**: a 400/422 that names ``logprobs`` or ``response_format``
  drops that part of the request for the rest of this client's life and asks again, so a
  server without logprobs or JSON schemas still answers (matched by text).
* **Every item accounted for**: `answer_all` returns one `Answer` per request, in order,
  either an answer or a failure with its last error; the caller counts them.
* **Paid once**: answers go into the `AnswerCache` as they arrive, so an interrupted or
  failed batch keeps what it got.
* **The key stays in the environment**: it is read from the variable ``api_key_env``
  names at request time and sent as a bearer header, never stored, logged or cached.
"""

from __future__ import annotations

import email.utils
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from whichmodel.models.llm.answer_cache import AnswerCache, answer_key

MAX_RETRY_AFTER_S = 60.0
MAX_BACKOFF_S = 30.0
# Request fields a server may refuse, in the order they are given up.
_OPTIONAL_FEATURES = (("logprobs", ("logprobs", "top_logprobs")),
                      ("response_format", ("response_format",)))


@dataclass
class Answer:
    """What the endpoint said about one request, or why it said nothing.

    ``status``: "ok" (``content`` holds the answer text, possibly None) or "failed"
    (``error`` says why, after every retry). Tokens are the server's ``usage``
    (None when it reports none); ``latency_ms`` is the wall time of the call with its
    retries, or, for an answer replayed from the cache (``cached``), that of the call
    that first answered it.
    """

    status: str
    content: str | None = None
    logprobs: list[dict[str, Any]] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    cached: bool = False
    error: str | None = None

    def stored(self) -> dict[str, Any]:
        """The cache's record of an answer."""
        return {"content": self.content, "logprobs": self.logprobs,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "latency_ms": self.latency_ms}


class _Unsupported(Exception):
    """A 400/422 that names a request feature the server does not take."""

    def __init__(self, feature: str) -> None:
        super().__init__(feature)
        self.feature = feature


class ChatEndpoint:
    """``POST {base_url}/chat/completions`` for many requests at once.

    ``base_url`` is the API root as OpenAI clients take it (``https://api.openai.com/v1``,
    ``http://127.0.0.1:8080/v1``); ``model`` the model name the server expects;
    ``api_key_env`` the *name* of the environment variable holding the key (unset: no
    key is sent, as local servers want).
    """

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = None,
                 timeout_s: float = 30.0, max_retries: int = 4, max_concurrency: int = 4,
                 retry_backoff_s: float = 1.0, cache: AnswerCache | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.max_concurrency = int(max_concurrency)
        self.retry_backoff_s = float(retry_backoff_s)
        self.cache = cache
        self.dropped: set[str] = set()  # features this server refused
        self.http_calls = 0             # requests sent, retries included
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The chat-completions URL."""
        return f"{self.base_url}/chat/completions"

    def answer_all(self, bodies: Sequence[dict[str, Any]]) -> list[Answer]:
        """One `Answer` per request body, in order; never raises for an item's failure."""
        import httpx

        if not bodies:
            return []
        workers = max(1, min(self.max_concurrency, len(bodies)))
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        with httpx.Client(timeout=self.timeout_s, limits=limits) as client, \
                ThreadPoolExecutor(max_workers=workers,
                                   thread_name_prefix="whichmodel-llm") as pool:
            futures = [pool.submit(self._answer, client, body) for body in bodies]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _answer(self, client: Any, body: dict[str, Any]) -> Answer:
        while True:
            sent = self._prepared(body)
            key = answer_key(self.base_url, self.model, sent)
            if self.cache is not None:
                stored = self.cache.get(key)
                if stored is not None:
                    return Answer("ok", cached=True, **stored)
            try:
                answer = self._call(client, sent)
            except _Unsupported as refused:
                with self._lock:
                    self.dropped.add(refused.feature)
                continue  # ask again without it (and look in the cache again)
            if answer.status == "ok" and self.cache is not None:
                self.cache.put(key, answer.stored())
            return answer

    def _prepared(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            dropped = set(self.dropped)
        fields = {f for feature, names in _OPTIONAL_FEATURES if feature in dropped
                  for f in names}
        return {k: v for k, v in body.items() if k not in fields}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _call(self, client: Any, body: dict[str, Any]) -> Answer:
        """One request with its retries: an ok `Answer` or a failed one."""
        import httpx

        started = time.perf_counter()
        error = "no attempt made"
        wait: float | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(wait if wait is not None else self._backoff(attempt))
            wait = None
            with self._lock:
                self.http_calls += 1
            try:
                response = client.post(self.url, json=body, headers=self._headers())
            except httpx.TimeoutException:
                error = f"no answer within timeout_s={self.timeout_s:g} s"
                continue
            except httpx.TransportError as err:
                error = f"cannot reach {self.url} ({type(err).__name__}: {_short(err)})"
                continue
            status = response.status_code
            if status == 200:
                parsed = _completion(response)
                if isinstance(parsed, str):
                    error = f"HTTP 200 but {parsed}"
                    continue
                content, logprobs, usage = parsed
                return Answer("ok", content=content, logprobs=logprobs,
                              input_tokens=_tokens(usage, "prompt_tokens"),
                              output_tokens=_tokens(usage, "completion_tokens"),
                              latency_ms=(time.perf_counter() - started) * 1000)
            detail = _short(response.text)
            error = f"HTTP {status} from {self.url}: {detail}"
            if status == 429 or status >= 500:
                wait = _retry_after(response.headers.get("retry-after"))
                continue
            if status in (400, 422):
                feature = self._refused_feature(body, response.text)
                if feature is not None:
                    raise _Unsupported(feature)
            if status in (401, 403):
                error += (f" (the key is read from the environment variable "
                          f"{self.api_key_env!r}; is it set to a valid key?)"
                          if self.api_key_env else "")
            return Answer("failed", error=error,
                          latency_ms=(time.perf_counter() - started) * 1000)
        return Answer("failed", error=f"{error} (after {self.max_retries + 1} attempts)",
                      latency_ms=(time.perf_counter() - started) * 1000)

    def _refused_feature(self, body: dict[str, Any], text: str) -> str | None:
        """The optional feature a 400/422 names, if the request still has it."""
        said = text.lower()
        for feature, names in _OPTIONAL_FEATURES:
            mentioned = any(n in said for n in names) or (
                feature == "response_format" and ("json_schema" in said or "schema" in said))
            if mentioned and any(n in body for n in names):
                return feature
        return None

    def _backoff(self, attempt: int) -> float:
        base = min(MAX_BACKOFF_S, self.retry_backoff_s * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)


def _completion(response: Any) -> tuple[str | None, list | None, dict] | str:
    """(content, logprob tokens, usage) of a chat completion, or what is wrong with it."""
    try:
        data = response.json()
    except ValueError:
        return f"the body is not JSON ({_short(response.text)})"
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        return f"the body is not a chat completion ({_short(response.text)})"
    content = message.get("content") if isinstance(message, dict) else None
    if content is not None and not isinstance(content, str):
        return "message.content is not text"
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return content, tokens if isinstance(tokens, list) else None, usage


def _tokens(usage: dict[str, Any], name: str) -> int | None:
    value = usage.get(name)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(MAX_RETRY_AFTER_S, seconds))


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "…"
