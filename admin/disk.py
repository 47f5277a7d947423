"""What uses the disk: users' home volumes (largest first), the hub's data, shared volumes, the images.

    venv/bin/python -m admin.disk --stack prod

Sizes are the engine's own count (`docker system df -v`). A home volume counts when
its name fits `spawner.homeVolumeTemplate`, whoever made it. Hard per-user quotas
need a volume driver or XFS project quotas under Docker's data root (docs/how-to/see-what-uses-the-disk.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from admin.stack import command_line, open_stack
from components.names import BUILT_FOR_LABEL, DeploymentNames

MB = 1024**2


def usage_lines(usage: dict[str, Any], names: DeploymentNames) -> list[str]:
    """The report, from the engine's `GET /system/df`."""
    volumes = {v["Name"]: max(v.get("UsageData", {}).get("Size", -1), 0) for v in usage.get("Volumes") or []}
    homes = sorted(((size, name) for name, size in volumes.items() if names.is_home_volume(name)), reverse=True)
    lines = [f"home volumes ({len(homes)}, {sum(size for size, _ in homes) / MB:.1f} MB, largest first):"]
    lines += [f"  {size / MB:10.1f} MB  {name}" for size, name in homes]
    lines.append(f"hub data: {volumes.get(names.hub_data_volume, 0) / MB:.1f} MB  {names.hub_data_volume}")
    shared = sorted((name, size) for name, size in volumes.items() if name.startswith(names.shared_volume("")))
    lines += [f"shared volume: {size / MB:.1f} MB  {name}" for name, size in shared]
    ours = [i for i in usage.get("Images") or [] if (i.get("Labels") or {}).get(BUILT_FOR_LABEL) == names.deployment]
    unused = [i for i in ours if i.get("Containers", 0) == 0]
    lines.append(
        f"images built for {names.deployment}: {len(ours)}, {sum(i['Size'] for i in ours) / MB:.0f} MB with shared layers; "
        f"{len(unused)} of them used by no container (admin.prune_images removes the ones no longer needed)"
    )
    cache = sum(entry.get("Size", 0) for entry in usage.get("BuildCache") or [])
    lines.append(f"build cache (all builds on this engine): {cache / MB:.0f} MB (docker builder prune frees it)")
    return lines


def parser() -> argparse.ArgumentParser:
    return command_line("admin.disk", __doc__ or "")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config, client = open_stack(args, "disk", timeout_s=300)
    usage = client.df()
    print("\n".join(usage_lines(usage, config.names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
