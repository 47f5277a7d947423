"""An image that must already be on the host (or be pullable) before anything uses it.

Used for the base image every build starts FROM, a rollback image and the extra
images users may pick: if one is missing and cannot be pulled, this resource fails
first, so no build runs (for the base image) and the running hub is not replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker


@dataclass(frozen=True)
class HostImageArgs:
    ref: str


class HostImage(pulumi.ComponentResource):
    image: docker.RemoteImage

    def __init__(self, name: str, args: HostImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:HostImage", name, None, opts)
        # keep_locally: a destroy, or a change of ref, must never delete an image from the host.
        self.image = docker.RemoteImage(name, name=args.ref, keep_locally=True, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"imageId": self.image.image_id})
