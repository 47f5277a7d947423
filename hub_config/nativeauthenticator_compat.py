"""NativeAuthenticator 1.3.0 on JupyterHub 6: a stand-in for the handlers' statsd client.

NativeAuthenticator's LoginHandler.post times each login with
`self.statsd.timer("login.authenticate").start()` / `.stop(send=False)`; JupyterHub
6.0 removed the handlers' `statsd` (its Prometheus metrics replace it), so every
login fails with an AttributeError. Importing this module gives JupyterHub's
handlers a client that does nothing, only when JupyterHub has none;
jupyterhub_config.py names the authenticator below so that the hub imports it.
Remove both once a NativeAuthenticator release stops using statsd.
"""

from __future__ import annotations

from jupyterhub.handlers.base import BaseHandler
from nativeauthenticator import NativeAuthenticator as UpstreamNativeAuthenticator


class _Timer:
    def start(self) -> _Timer:
        return self

    def stop(self, send: bool = True) -> None:
        return None


class NoStatsd:
    """The part of statsd's client NativeAuthenticator uses, doing nothing."""

    def timer(self, stat: str, rate: float = 1) -> _Timer:
        return _Timer()

    def incr(self, stat: str, count: int = 1, rate: float = 1) -> None:
        return None


def install(handler_class: type) -> bool:
    """Give `handler_class` (JupyterHub's BaseHandler) a `statsd` if it has none; True if it did."""
    if hasattr(handler_class, "statsd"):
        return False
    handler_class.statsd = NoStatsd()  # type: ignore[attr-defined]
    return True


class NativeAuthenticator(UpstreamNativeAuthenticator):  # type: ignore[misc]
    """NativeAuthenticator itself (its `c.NativeAuthenticator` settings apply unchanged)."""


install(BaseHandler)
