"""Bounded background polling of a URL, to count failures while something changes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests

MAX_PROBE_S = 300


@dataclass
class Outcome:
    at_s: float
    ok: bool
    detail: str


@dataclass
class Probe:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    interval_s: float = 0.05
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Probe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _run(self) -> None:
        started = time.monotonic()
        max_count = int(MAX_PROBE_S / self.interval_s)
        for _ in range(max_count):
            if self._stop.is_set():
                return
            try:
                response = requests.get(self.url, headers=self.headers, timeout=2)
                self.outcomes.append(Outcome(time.monotonic() - started, response.status_code == 200, str(response.status_code)))
            except requests.RequestException as error:
                self.outcomes.append(Outcome(time.monotonic() - started, False, type(error).__name__))
            time.sleep(self.interval_s)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def longest_outage_s(self) -> float:
        """Longest stretch from a failure to the next success."""
        longest, outage_started = 0.0, None
        for outcome in self.outcomes:
            if not outcome.ok and outage_started is None:
                outage_started = outcome.at_s
            elif outcome.ok and outage_started is not None:
                longest, outage_started = max(longest, outcome.at_s - outage_started), None
        if outage_started is not None and self.outcomes:
            longest = max(longest, self.outcomes[-1].at_s - outage_started)
        return longest
