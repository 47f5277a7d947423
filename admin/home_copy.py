"""The two ends of a home's copy between nodes, run with python3 of the notebook image
by admin/swarm_home.py (each as a one-off Swarm service, as root):

    python3 -c <this file> send <folder> <port>
    python3 -c <this file> receive <folder> <sender host> <port>

The sender serves one connection with `tar -c` of the folder; the receiver refuses a
folder that already has files (exit 3) and unpacks what it receives, owners, modes and
sparse files kept. Each exits with tar's status.
"""

import os
import socket
import subprocess
import sys
import time

CONNECT_TIMEOUT_S = 120
HOME_NOT_EMPTY = 3


def send(folder: str, port: int) -> int:
    with socket.create_server(("", port)) as server:
        server.settimeout(CONNECT_TIMEOUT_S)
        connection, _ = server.accept()
        with connection:
            tar = ["tar", "-C", folder, "--numeric-owner", "--sparse", "-c", "."]
            return subprocess.run(tar, stdout=connection.fileno(), check=False).returncode


def receive(folder: str, host: str, port: int) -> int:
    if os.listdir(folder):
        print(f"the home on this node already has files ({folder}): it is not overwritten", file=sys.stderr)
        return HOME_NOT_EMPTY
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            connection = socket.create_connection((host, port), timeout=10)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    with connection:
        connection.settimeout(None)
        tar = ["tar", "-C", folder, "--numeric-owner", "--same-permissions", "-x"]
        return subprocess.run(tar, stdin=connection.fileno(), check=False).returncode


if __name__ == "__main__":
    if sys.argv[1] == "send":
        sys.exit(send(sys.argv[2], int(sys.argv[3])))
    sys.exit(receive(sys.argv[2], sys.argv[3], int(sys.argv[4])))
