"""`build.*`: how the images are built."""

from __future__ import annotations

from dataclasses import dataclass

from components.config.registry import setting
from components.config.values import IMAGE_REF, existing_path, http_url, pattern


@dataclass(frozen=True)
class BuildConfig:
    base_image: str = setting(
        "debian:trixie-slim",
        "image every Dockerfile starts `FROM`",
        check=pattern(IMAGE_REF, "not an image reference", "pulumi config set --path build.baseImage debian:trixie-slim"),
    )
    extra_ca_certs_path: str = setting(
        "",
        "PEM file, or folder of `*.crt`, trusted during image builds (see "
        "[Build behind a TLS-intercepting proxy](../how-to/build-behind-an-intercepting-proxy.md))",
        check=existing_path,
    )
    pip_index_url: str = setting(
        "https://pypi.org/simple", "Python package index used by the hub and notebook builds", check=http_url
    )
    npm_registry: str = setting("https://registry.npmjs.org/", "npm registry used by the proxy build", check=http_url)
    keep_builds: int = setting(
        3, "`admin.prune_images` keeps this many newest builds of each image, beside those in use", low=1, high=100
    )
