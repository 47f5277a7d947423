"""Bounded background polling of a URL, to count failures while something changes.

The polling runs in a process of its own: in the test or benchmark process, an apply
(the Pulumi program running under the mocks) would hold the interpreter and delay the
very polls that time it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

MAX_PROBE_S = 300
STOP_WAIT_S = 10
BODY_START_CHARS = 600
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    sent_s: float  # seconds since the probe started: the request was sent
    at_s: float  # its answer, or its error, came back
    ok: bool
    detail: str  # the status code, or the error's name
    answer: dict[str, str] = field(default_factory=dict)  # of an answer: ANSWER_FIELDS


@dataclass
class Probe:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    interval_s: float = 0.05
    clients: int = 1  # that many request loops at once
    outcomes: list[Outcome] = field(default_factory=list)
    _started: float = 0.0
    _process: subprocess.Popen[str] | None = None
    _reader: threading.Thread | None = None

    def __enter__(self) -> Probe:
        spec = json.dumps({"url": self.url, "headers": self.headers, "interval_s": self.interval_s, "clients": self.clients})
        self._started = time.monotonic()
        command = [sys.executable, "-m", "testkit.probe", spec]
        self._process = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            sent, answered, ok, detail, answer = json.loads(line)
            self.outcomes.append(Outcome(sent - self._started, answered - self._started, ok, detail, answer))

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None and self._process.stdin is not None and self._reader is not None
        self._process.stdin.close()  # the poller stops when its stdin closes
        self._process.wait(timeout=STOP_WAIT_S)
        self._reader.join(timeout=STOP_WAIT_S)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def longest_outage_s(self) -> float:
        """Longest stretch from sending a request that failed to the answer of the next
        one that succeeded (or to the last answer, if none did)."""
        longest, outage_started = 0.0, None
        for outcome in self.outcomes:
            if not outcome.ok and outage_started is None:
                outage_started = outcome.sent_s
            elif outcome.ok and outage_started is not None:
                longest, outage_started = max(longest, outcome.at_s - outage_started), None
        if outage_started is not None and self.outcomes:
            longest = max(longest, self.outcomes[-1].at_s - outage_started)
        return longest


def _answer(response: requests.Response) -> dict[str, str]:
    return {
        "url": response.url,  # after redirects
        "contentType": response.headers.get("Content-Type", ""),
        "retryAfter": response.headers.get("Retry-After", ""),
        "bodyStart": response.text[:BODY_START_CHARS],
    }


def poll(url: str, headers: dict[str, str], interval_s: float, clients: int = 1) -> None:
    """Print one JSON line per request (sent, answered, ok, detail, answer; monotonic
    clock, which the parent shares) from `clients` loops until stdin closes or
    MAX_PROBE_S pass."""
    stop = threading.Event()
    printing = threading.Lock()

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    loops = [threading.Thread(target=_loop, args=(url, headers, interval_s, stop, printing)) for _ in range(clients)]
    for loop in loops:
        loop.start()
    for loop in loops:
        loop.join(MAX_PROBE_S + STOP_WAIT_S)


def _loop(url: str, headers: dict[str, str], interval_s: float, stop: threading.Event, printing: threading.Lock) -> None:
    deadline = time.monotonic() + MAX_PROBE_S
    for _ in range(int(MAX_PROBE_S / interval_s)):
        if stop.is_set() or time.monotonic() > deadline:
            return
        sent = time.monotonic()
        answer: dict[str, str] = {}
        try:
            response = requests.get(url, headers=headers, timeout=2)
            ok, detail, answer = response.status_code == 200, str(response.status_code), _answer(response)
        except requests.RequestException as error:
            ok, detail = False, type(error).__name__
        with printing:
            print(json.dumps([sent, time.monotonic(), ok, detail, answer]), flush=True)
        time.sleep(interval_s)


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    poll(spec["url"], spec["headers"], spec["interval_s"], spec["clients"])
