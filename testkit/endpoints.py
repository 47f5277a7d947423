"""Loopback ports, and waits bounded in time and in calls: for a condition, for an HTTP endpoint."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

import requests

T = TypeVar("T")


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


def wait_until(check: Callable[[], T | None], timeout_s: float, interval_s: float, what: str) -> T:
    """Call check until it returns something truthy; bounded in time and in calls."""
    deadline = time.monotonic() + timeout_s
    for _ in range(int(timeout_s / interval_s) + 1):
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not within {timeout_s:.0f}s")
