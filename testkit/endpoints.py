"""Loopback ports and waiting for an HTTP endpoint, bounded in time."""

from __future__ import annotations

import socket
import time

import requests


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, timeout_s: float, verify: bool | str = True) -> float:
    """Seconds until url answers 200; AssertionError after timeout_s."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if requests.get(url, timeout=2, verify=verify).status_code == 200:
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout_s}s")
