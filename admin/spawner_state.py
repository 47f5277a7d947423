"""Read or set the node a user's home is pinned to, in the hub's database (Swarm mode, sticky homes).

Runs inside a one-off container of the hub's image, with the hub's data volume, as
`python3 -c <this file> <database> <user> [<node> | --release]` (no third argument: read
only). Prints the pin (the node's hostname, or nothing) as JSON. The hub keeps the
spawner's state in memory, so admin/swarm_home.py stops the hub around a change.
"""

import json
import sqlite3
import sys

SERVER = """SELECT spawners.id, spawners.state FROM spawners JOIN users ON users.id = spawners.user_id
            WHERE users.name = ? AND spawners.name = ''"""
RELEASE = "--release"


def pinned_node(database: str, user: str, change: str | None) -> str:
    """The user's pin after the change (None: no change; RELEASE: remove it; else: the node)."""
    uri = f"file:{database}?mode={'ro' if change is None else 'rw'}"
    with sqlite3.connect(uri, uri=True) as connection:
        row = connection.execute(SERVER, (user,)).fetchone()
        if row is None:
            raise LookupError(f"the hub has no user {user!r} with a server")
        spawner_id, text = row
        state = json.loads(text) if text else {}
        if change == RELEASE:
            state.pop("home_node", None)
        elif change is not None:
            state["home_node"] = change
        if change is not None:
            connection.execute("UPDATE spawners SET state = ? WHERE id = ?", (json.dumps(state), spawner_id))
    return str(state.get("home_node", ""))


if __name__ == "__main__":
    try:
        print(json.dumps(pinned_node(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)))
    except LookupError as error:
        sys.exit(str(error))
