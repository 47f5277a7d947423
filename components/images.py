"""The images a deployment builds: each one's build context and build args."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.config import StackConfig


@dataclass(frozen=True)
class ImageBuild:
    context_dir: str  # relative to the project root, e.g. "build.notebook"
    build_args: dict[str, str]  # part of the content tag
    # Where packages are downloaded from: not part of the tag, since the locks fix what
    # is installed (a new mirror serves the same hashes and rebuilds nothing).
    download_args: dict[str, str] = field(default_factory=dict)

    @property
    def all_build_args(self) -> dict[str, str]:
        return {**self.build_args, **self.download_args}


def image_builds(config: StackConfig, extra_ca_certs: str) -> dict[str, ImageBuild]:
    """By role (the image's name after `<name>-`), each with only the args it uses."""
    build = config.build
    owner = {"DEPLOYMENT": config.name}  # the images' built-for label
    common = {"BASE_IMAGE": build.base_image, "EXTRA_CA_CERTS": extra_ca_certs, **owner}
    builds = {
        "proxy": ImageBuild("build.proxy", common, {"NPM_CONFIG_REGISTRY": build.npm_registry}),
        "hub": ImageBuild("hub_config", common, {"PIP_INDEX_URL": build.pip_index_url}),
        "notebook": ImageBuild("build.notebook", common, {"PIP_INDEX_URL": build.pip_index_url}),
    }
    if config.docker_api_proxy:
        # The filter's image installs Debian's python3 and nothing from PyPI or npm.
        builds["docker-api"] = ImageBuild("docker_api_proxy", {"BASE_IMAGE": build.base_image, **owner})
    if config.backup.enabled:
        builds["backup"] = ImageBuild("build.backup", common)
    if config.metrics.prometheus:
        builds["prometheus"] = ImageBuild("build.prometheus", {"BASE_IMAGE": build.base_image, **owner})
    if config.serves_tls:
        builds["tls"] = ImageBuild("build.tls", {"BASE_IMAGE": build.base_image, **owner})
    return builds
