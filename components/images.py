"""The images a deployment builds: each one's build context and build args."""

from __future__ import annotations

from dataclasses import dataclass

from components.config import StackConfig


@dataclass(frozen=True)
class ImageBuild:
    context_dir: str  # relative to the project root, e.g. "build.notebook"
    build_args: dict[str, str]


def image_builds(config: StackConfig, extra_ca_certs: str) -> dict[str, ImageBuild]:
    """By role (the image's name after `<name>-`). Each build gets only the args it uses,
    so a new pip mirror rebuilds the Python images and leaves the proxy's tag alone."""
    build = config.build
    owner = {"DEPLOYMENT": config.name}  # the images' built-for label
    downloads = {"BASE_IMAGE": build.base_image, "EXTRA_CA_CERTS": extra_ca_certs, **owner}
    builds = {
        "proxy": ImageBuild("build.proxy", {**downloads, "NPM_CONFIG_REGISTRY": build.npm_registry}),
        "hub": ImageBuild("hub_config", {**downloads, "PIP_INDEX_URL": build.pip_index_url}),
        "notebook": ImageBuild("build.notebook", {**downloads, "PIP_INDEX_URL": build.pip_index_url}),
    }
    if config.docker_api_proxy:
        # The filter's image installs Debian's python3 and nothing from PyPI or npm.
        builds["docker-api"] = ImageBuild("docker_api_proxy", {"BASE_IMAGE": build.base_image, **owner})
    if config.backup.enabled:
        builds["backup"] = ImageBuild("build.backup", {"BASE_IMAGE": build.base_image, "EXTRA_CA_CERTS": extra_ca_certs, **owner})
    return builds
