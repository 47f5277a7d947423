"""The hub's own requests look container names up afresh at each connection.

JupyterHub 6 makes its requests (a new server's readiness check, the proxy's API) with
aiohttp, which resolves names through c-ares (aiodns, a JupyterHub dependency); c-ares
keeps each answer for its TTL, and Docker's embedded DNS answers with 600 s. A user's
server made again within ten minutes on another address (its old one taken meanwhile by
another container) was looked for at the old address until the spawn failed ("never
showed up"). The system resolver asks Docker's DNS each time, as the proxy does.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class SystemResolver(AbstractResolver):
    """getaddrinfo in the event loop's executor, nothing kept (made before the loop runs)."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return await ThreadedResolver(asyncio.get_running_loop()).resolve(host, port, family)

    async def close(self) -> None:
        return None


def uncached_connector_options() -> dict[str, object]:
    """JupyterHubHTTPClient.connector_options: the system resolver, and aiohttp's own cache off."""
    return {"resolver": SystemResolver(), "use_dns_cache": False}
