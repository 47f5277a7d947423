"""Strict reading of what a client sends: one HTTP/1.1 request, its query and its JSON body.

The filter never forwards a client's bytes, only what it builds from values read
here. These readers therefore refuse, rather than choose a reading of, anything
two parsers could read differently: a repeated header, any Transfer-Encoding, a
bare LF, a folded header line, an absolute-form target, an escaped path, a
repeated query parameter, a repeated JSON key, non-UTF-8 text, NaN.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

MAX_LINE_BYTES = 8192
MAX_HEADERS = 64
MAX_BODY_BYTES = 1 << 20

_REQUEST_LINE = re.compile(rb"(?P<method>[A-Z]{1,10}) (?P<target>/[\x21-\x7e]*) HTTP/(?P<version>1\.[01])\r\n")
_HEADER = re.compile(rb"(?P<name>[!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(?P<value>[\x20-\x7e]*?)[ \t]*\r\n")
_PATH = re.compile(r"(/[A-Za-z0-9._:@-]+)+|/")
_QUERY_NAME = re.compile(r"[a-z_]{1,32}")
_QUERY_VALUE = re.compile(r"([A-Za-z0-9._~!$'()*,;:@/+-]|%[0-9A-Fa-f]{2})*")


class RefusedError(Exception):
    """A request the filter will not forward; str() is a one-line reason without client text."""


class Stream(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # no query; segments of safe characters only, no escapes (but %40, read as @), no dot segments
    query: dict[str, str]  # decoded; each name at most once
    body: bytes  # exactly Content-Length bytes
    keep_alive: bool


def _line(stream: Stream) -> bytes:
    line = stream.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise RefusedError(f"a request or header line is longer than {MAX_LINE_BYTES} bytes")
    return line


def read_request(stream: Stream) -> Request | None:
    """The next request on a connection; None when the client closed it between requests."""
    first = _line(stream)
    if not first:
        return None
    request_line = _REQUEST_LINE.fullmatch(first)
    if request_line is None:
        raise RefusedError("the request line is not 'METHOD /origin-form-target HTTP/1.x' ending in CRLF")
    headers: dict[str, str] = {}
    while (line := _line(stream)) != b"\r\n":
        header = _HEADER.fullmatch(line)
        if header is None:
            raise RefusedError("a header line is malformed (folded, bare LF, bad name or non-ASCII value)")
        name = header["name"].decode().lower()
        if name in headers:
            raise RefusedError(f"the header {name} is repeated")
        if len(headers) == MAX_HEADERS:
            raise RefusedError(f"more than {MAX_HEADERS} headers")
        headers[name] = header["value"].decode()
    if "transfer-encoding" in headers:
        raise RefusedError("Transfer-Encoding is not accepted; send a Content-Length")
    if "expect" in headers:
        raise RefusedError("Expect is not accepted")
    length_text = headers.get("content-length", "0")
    if not re.fullmatch(r"[0-9]{1,8}", length_text) or int(length_text) > MAX_BODY_BYTES:
        raise RefusedError(f"Content-Length must be a decimal number of at most {MAX_BODY_BYTES} bytes")
    body = stream.read(int(length_text))
    if len(body) != int(length_text):
        raise RefusedError("the connection closed before the body was complete")
    version = request_line["version"].decode()
    connection = headers.get("connection", "").lower()
    keep_alive = connection == "keep-alive" if version == "1.0" else connection != "close"
    path, _, query = request_line["target"].decode().partition("?")
    return Request(request_line["method"].decode(), _checked_path(path), parse_query(query), body, keep_alive)


def _checked_path(path: str) -> str:
    # One escape is read: docker-py writes the '@' of an image digest reference as %40
    # (an image inspect by digest, in swarm mode); '@' itself is a plain path character.
    path = path.replace("%40", "@")
    if not _PATH.fullmatch(path) or any(segment in (".", "..") for segment in path.split("/")):
        raise RefusedError("the path has characters, escapes or dot segments that are not accepted")
    return path


def parse_query(query: str) -> dict[str, str]:
    """name=value pairs, each name once, values percent- and plus-decoded as strict UTF-8."""
    parsed: dict[str, str] = {}
    if not query:
        return parsed
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if not equals or not _QUERY_NAME.fullmatch(name) or not _QUERY_VALUE.fullmatch(value):
            raise RefusedError("a query parameter is malformed")
        if name in parsed:
            raise RefusedError(f"the query parameter {name} is repeated")
        try:
            parsed[name] = unquote_to_bytes(value.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            raise RefusedError(f"the query parameter {name} is not UTF-8") from None
    return parsed


def _refuse_constant(name: str) -> Any:
    raise RefusedError(f"the JSON constant {name} is not accepted")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in pairs:
        if key in parsed:
            raise RefusedError(f"the JSON key {key[:64]!r} is repeated")
        parsed[key] = value
    return parsed


def parse_json(body: bytes) -> Any:
    """A JSON document read as strictly as it is written: UTF-8, no BOM, unique keys, no NaN,
    and no string (key or value) that UTF-8 cannot hold (a lone surrogate escape)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedError("the body is not UTF-8") from None
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise RefusedError("the body is not one JSON document") from None
    _check_strings(document)
    return document


def _check_strings(value: Any) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise RefusedError("a JSON string holds an unpaired surrogate") from None
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
