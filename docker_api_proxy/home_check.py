"""Is a user's home volume on this node this deployment's, or not there yet? Asked of the node's own engine.

In swarm mode the filter holds only the manager's socket, which cannot see a worker's
volumes, and a node's engine mounts an existing volume of the home's name as it is
(another deployment's, or a hand-made `local` volume with bind options). So before a
user's service is created the filter runs this file on the nodes that could take it,
as a one-off global service of the service's own image (restart none: a Swarm job
would run a task again that exits non-zero):

    python3 -I -S -c <this file> '<expected, JSON>'

with the node's Docker socket mounted and nothing else; the answer is the exit code.
Standard library only: it runs in the notebook image.
"""

import json
import socket
import sys

OURS = 0  # this deployment's home: labelled so, with the homes' driver and options
ABSENT = 10  # not on this node: the service's mount makes it, labelled
FOREIGN = 3  # a volume of that name that is not this deployment's home: never mount it
UNKNOWN = 4  # the engine's answer could not be read: the node stays unchecked
ENGINE_SOCKET = "/var/run/docker.sock"
API = "/v1.41"


def verdict(status: int, body: bytes, expected: dict) -> int:
    """expected: {"volume", "driver", "options", "label", "deployment"}."""
    if status == 404:
        return ABSENT
    if status != 200:
        return UNKNOWN
    try:
        volume = json.loads(body)
    except ValueError:
        return UNKNOWN
    if not isinstance(volume, dict) or volume.get("Name") != expected["volume"]:
        return UNKNOWN
    labels = volume.get("Labels") or {}
    ours = (
        volume.get("Driver") == expected["driver"]
        and (volume.get("Options") or {}) == expected["options"]
        and isinstance(labels, dict)
        and labels.get(expected["label"]) == expected["deployment"]
    )
    return OURS if ours else FOREIGN


def ask_engine(volume: str) -> tuple[int, bytes]:
    """GET the volume from the node's engine (HTTP/1.0: the engine closes when done)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as engine:
        engine.settimeout(20)
        engine.connect(ENGINE_SOCKET)
        engine.sendall(f"GET {API}/volumes/{volume} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        answer = b""
        while chunk := engine.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def main(argv: list) -> int:
    expected = json.loads(argv[1])
    try:
        status, body = ask_engine(expected["volume"])
    except (OSError, ValueError, IndexError):
        return UNKNOWN
    return verdict(status, body, expected)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
