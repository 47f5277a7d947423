"""build.tls/tls-health, the terminator's health check: unhealthy when a name has no certificate,
or less than min(7 days, a tenth of its lifetime) left (run here against a loopback TLS server)."""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Iterator

import pytest

from testkit.program_runner import REPO_ROOT
from tests.unit.tls_server import serving

SCRIPT = REPO_ROOT / "build.tls" / "tls-health"
DAY = datetime.timedelta(days=1)
SECOND = datetime.timedelta(seconds=1)
# name -> (since issued, until expiry) of each name's certificate on the test server
CERTIFICATES = {
    "fresh.example.org": (DAY, 89 * DAY),  # Let's Encrypt's 90 days, just issued
    "due.example.org": (60 * DAY, 30 * DAY),  # renewal due: still healthy
    "late.example.org": (84 * DAY, 6 * DAY),  # under 7 days: renewals failed for weeks
    "short.example.org": (600 * SECOND, 300 * SECOND),  # 15 minutes: a tenth is 90 s, 300 s left
    "ending.example.org": (870 * SECOND, 30 * SECOND),  # 15 minutes, 30 s left
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Serves each name's certificate by SNI; nothing for other names; fresh.example.org without a name."""
    now = datetime.datetime.now(datetime.UTC)
    validity = {name: (now - since, now + until) for name, (since, until) in CERTIFICATES.items()}
    with serving(tmp_path_factory.mktemp("certificates"), validity, "fresh.example.org") as port:
        yield port


def health(port: int, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(SCRIPT), "hub-tls", str(port), *names], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", ["fresh.example.org", "due.example.org", "short.example.org"])
def test_enough_time_left_is_healthy(server: int, name: str) -> None:
    result = health(server, name)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith(f"{name}: ") and result.stdout.rstrip().endswith(" s left")


@pytest.mark.parametrize("name", ["late.example.org", "ending.example.org"])
def test_too_little_time_left_is_unhealthy(server: int, name: str) -> None:
    result = health(server, name)
    assert result.returncode == 1
    assert f"{name}: the certificate expires in " in result.stdout and "has not been renewed" in result.stdout


def test_a_name_without_a_certificate_is_unhealthy_and_says_where_to_look(server: int) -> None:
    result = health(server, "fresh.example.org", "missing.example.org")
    assert result.returncode == 1
    assert "fresh.example.org: " in result.stdout
    assert "missing.example.org: no certificate served; the CA's answer: docker logs hub-tls 2>&1 | grep error" in result.stdout


def test_without_names_the_certificate_served_without_a_name_is_checked(server: int) -> None:
    result = health(server)
    assert result.returncode == 0 and result.stdout.startswith("(any name): ")
