"""A made-up API key for tests, built at run time so no key-like literal is committed."""

from __future__ import annotations

import secrets


def made_up_key() -> str:
    """A fresh value shaped like a provider's key ("sk-test-" + 24 hex digits)."""
    return "-".join(["sk", "test", secrets.token_hex(12)])
