"""Apply the Pulumi program's resources to a real Docker engine as `pulumi up` would, without the CLI.

The program runs under `pulumi.runtime.set_mocks`; `EngineMocks.new_resource` does what
pulumi-docker 5.x does for each declared resource, with the docker SDK (and the docker
CLI for BuildKit builds), and returns the outputs the provider would. State between
applies lives in a JSON file.

What it models, each rule with the source it follows. "TF" is terraform-provider-docker
v4.5.0, which pulumi-docker 5.x bundles (`internal/provider/resource_docker_*.go`);
"PD" is pulumi-docker's own `provider/` (`resources.go`, and the native Image in
`provider.go` / `image.go`):
  - which input changes replace a resource, update it in place, or update nothing on
    the engine: from the provider's schema (tables below), not from what the program
    uses today;
  - containers are deleted before they are replaced (PD resources.go forces
    DeleteBeforeReplace); other replacements create first and delete the old copy at
    the end of the update, as the Pulumi engine does;
  - a container is created, connected, given its uploads and started, and then waited
    for only if `wait` is set, and then until its healthcheck says healthy (TF
    resourceDockerContainerCreate); a failed wait leaves the container in place;
  - a refresh happens only when Pulumi.yaml says `options: refresh: always` (Pulumi's
    project file), and then reads each resource as the provider's Read does;
  - a native Image change is an update, its ID stays the first image name, its Read
    and Delete do nothing (PD provider.go); builds use BuildKit, the provider's default
    builder (PD image.go: builder version 2);
  - network and volume deletes are retried while in use for 30 s (TF network/volume
    Delete); a network is not created over one of the same name;
  - a pushed Image's repo_digest is `<repository>@<pushed digest>` (PD image.go 5.1+), a
    RemoteImage's the engine's matching RepoDigests entry (TF determineRepoDigest);
  - a Service is created or updated in place (TF resource_docker_service.go ForceNew),
    then waited for as its converge_config says (TF resourceDockerServiceCreate/Update).
Where the harness cannot be exact it refuses with `UntranslatedInputError` rather than
guess. Everything it creates carries the label HARNESS_LABEL.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import secrets
import shutil
import string
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pulumi
import yaml
from docker.types import LogConfig, Mount

from testkit.program_runner import ProgramRun, RecordingMonitor, Registration, run_program, stack_config, unwrap_secrets

HARNESS_LABEL = "org.jupyterhub-docker.e2e"
CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
SERVICE = "docker:index/service:Service"
BUILD_TIMEOUT_S = 1200
OPERATIONS_WAIT_S = 900
# Pulumi deletes dependents first.
DELETE_ORDER = [CONTAINER, SERVICE, IMAGE, REMOTE_IMAGE, VOLUME, NETWORK, RANDOM_PASSWORD]

# TF resource_docker_container.go: the container inputs without ForceNew. Every other
# input replaces the container.
CONTAINER_IN_PLACE = {
    "rm", "start", "wait", "waitTimeout", "attach", "logs", "mustRun", "restart", "maxRetryCount", "removeVolumes",
    "tmpfs", "deviceReadBps", "deviceReadIops", "deviceWriteBps", "deviceWriteIops", "destroyGraceSeconds", "memory",
    "memoryReservation", "memorySwap", "cpuShares", "cpuSet", "healthcheck", "containerReadRefreshTimeoutMilliseconds",
    "init", "cpuPeriod", "cpuQuota",
}  # fmt: skip
# TF resourceDockerContainerUpdate: of those, the ones it sends to the engine
# (ContainerUpdate); mustRun false -> true starts the container. The rest change
# only the state: a `~ update` that does nothing on the engine.
CONTAINER_UPDATE_SENT = {"restart", "maxRetryCount", "memory", "memorySwap", "cpuShares"}
CONTAINER_UPDATE_NOT_TRANSLATED = {
    "memoryReservation",
    "cpuSet",
    "deviceReadBps",
    "deviceReadIops",
    "deviceWriteBps",
    "deviceWriteIops",
}
# TF schema defaults the harness needs when an input is not set.
CONTAINER_DEFAULTS = {"mustRun": True, "start": True, "wait": False, "waitTimeout": 60, "destroyGraceSeconds": 0,
                      "removeVolumes": True, "restart": "no"}  # fmt: skip
# The container inputs this harness can create a container with.
CONTAINER_TRANSLATED = {
    "name", "image", "command", "envs", "labels", "ports", "mounts", "volumes", "networksAdvanced", "restart", "uploads",
    "capabilities", "securityOpts", "healthcheck", "wait", "waitTimeout", "destroyGraceSeconds", "logDriver", "logOpts",
    "dnsOpts", "user", "networkMode", "mustRun", "attach",
}  # fmt: skip
# TF resourceDockerContainerCreate: with attach it waits for the container to stop (ContainerWait
# "not-running"), whatever its exit code; the harness bounds that wait.
ATTACH_TIMEOUT_S = 300
# TF resource_docker_image.go (RemoteImage): only keep_locally is updated in place.
REMOTE_IMAGE_IN_PLACE = {"keepLocally"}
# TF resource_docker_service.go: the inputs with ForceNew (name, auth, mode's block); the
# rest (task_spec, labels, update_config, converge_config, ...) update the service in place.
SERVICE_FORCE_NEW = {"name", "auth", "mode"}
# The service inputs this harness can translate (TF createServiceSpec).
SERVICE_TRANSLATED = {"name", "labels", "mode", "taskSpec", "updateConfig", "convergeConfig"}
SERVICE_REMOVE_POLL_S = 1.0
CONVERGE_FIRST_WAIT_S, CONVERGE_NEXT_WAIT_S = 5.0, 10.0
SERVICE_REMOVE_TIMEOUT_S = 60
# TF resourceDockerContainerCreate: the wait polls the health status once a second.
HEALTH_POLL_S = 1.0
# TF resource_docker_network_funcs.go / resource_docker_volume.go Delete: first try
# after 2 s, retries at least 5 s apart while in use, for 30 s.
IN_USE_DELETE_DELAY_S, IN_USE_DELETE_RETRY_S, IN_USE_DELETE_TIMEOUT_S = 2.0, 5.0, 30.0


class UntranslatedInputError(ValueError):
    """The program used an input (or reached a state) this harness cannot apply faithfully."""


class ApplyError(RuntimeError):
    """The engine refused a change (the provider would fail the same way)."""


class _PartialCreateError(ApplyError):
    """Created, but the create failed afterwards: Pulumi keeps the resource, with an initialization error."""

    def __init__(self, message: str, resource_id: str, outputs: dict[str, Any]):
        super().__init__(message)
        self.resource_id, self.outputs = resource_id, outputs


@dataclass
class Change:
    urn: str
    action: str  # create | replace | update | same | delete | refresh-removed


def _only(inputs: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(inputs) - allowed
    if unknown:
        raise UntranslatedInputError(f"{what}: the harness does not apply {sorted(unknown)}")


def _duration_ns(text: str) -> int:
    """A Go duration ("3s", "1m30s", "500ms"), as TF parses healthcheck times."""
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    parts = re.findall(r"([0-9.]+)(ns|us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UntranslatedInputError(f"healthcheck duration {text!r} is not a Go duration the harness reads")
    return int(sum(float(number) * units[unit] for number, unit in parts))


def refresh_is_always(project_dir: Path) -> bool:
    """Pulumi.yaml `options: refresh: always`: every update starts with a refresh."""
    document = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    return (document.get("options") or {}).get("refresh") == "always"


@functools.cache
def _buildkit_cli() -> str:
    """A docker CLI that builds with BuildKit: one with the buildx plugin, or a CLI
    before 23.0 (BuildKit built in, as Debian's docker.io 20.10 ships it)."""
    for cli in dict.fromkeys(filter(None, [shutil.which("docker"), "/usr/bin/docker"])):
        if subprocess.run([cli, "buildx", "version"], capture_output=True).returncode == 0:
            return cli
        version = re.search(r"version ([0-9]+)\.", subprocess.run([cli, "--version"], capture_output=True, text=True).stdout)
        if version and int(version.group(1)) < 23:
            return cli
    raise UntranslatedInputError("no docker CLI here builds with BuildKit: install the buildx plugin")


def build_image(
    context: Path, dockerfile: str, tag: str, build_args: dict[str, str], platform: str | None, labels: dict[str, str],
    no_cache: bool = False, docker_host: str | None = None,
) -> None:  # fmt: skip
    """Build as the provider does by default: BuildKit through the engine (PD image.go, builder version 2)."""
    command = [_buildkit_cli(), "build", "--progress=plain", "--file", str(context / dockerfile), "--tag", tag]
    command += [item for key, value in sorted(build_args.items()) for item in ("--build-arg", f"{key}={value}")]
    command += [item for key, value in sorted(labels.items()) for item in ("--label", f"{key}={value}")]
    command += (["--platform", platform] if platform else []) + (["--no-cache"] if no_cache else []) + [str(context)]
    engine = {"DOCKER_HOST": docker_host} if docker_host else {}
    built = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env={**os.environ, "DOCKER_BUILDKIT": "1", **engine}
    )
    if built.returncode != 0:
        tail = "\n".join(built.stderr.strip().splitlines()[-15:])
        raise ApplyError(f"building {tag} failed:\n{tail}")


class EngineMocks(pulumi.runtime.Mocks):
    def __init__(self, client: docker.DockerClient, state_file: Path, run_id: str, docker_host: str | None = None):
        self.client = client
        self.docker_host = docker_host  # the provider's `docker:host`; None: the environment's engine
        self.state_file = state_file
        self.run_id = run_id
        saved = json.loads(state_file.read_text()) if state_file.exists() else {}
        self.state: dict[str, dict[str, Any]] = saved.get("resources", {})
        # Originals of create-before-delete replacements: deleted at the end of a
        # successful update, kept for the next one if this one fails (as Pulumi does).
        self.pending_deletes: list[dict[str, Any]] = saved.get("pendingDeletes", [])
        self.changes: list[Change] = []
        self.monitor: RecordingMonitor | None = None
        self.lock = threading.Lock()
        self.in_flight = 0
        self.stopped = False  # the update ended (failed): no operation starts after that

    # --- bookkeeping -------------------------------------------------------
    def _save(self) -> None:
        partial = self.state_file.with_suffix(".partial")
        document = {"resources": self.state, "pendingDeletes": self.pending_deletes}
        partial.write_text(json.dumps(document, indent=1, sort_keys=True))
        partial.replace(self.state_file)

    def wait_for_operations(self) -> None:
        """Like the Pulumi engine after a failure: let operations already under way finish."""
        with self.lock:
            self.stopped = True
        deadline = time.monotonic() + OPERATIONS_WAIT_S
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not self.in_flight, f"{self.in_flight} resource operations still running after {OPERATIONS_WAIT_S}s"

    def _registration(self, args: pulumi.runtime.MockResourceArgs) -> Registration:
        assert self.monitor is not None
        matches = [r for r in self.monitor.registrations.values() if r.type == args.typ and r.name == args.name]
        assert len(matches) == 1, f"cannot tell which {args.typ} {args.name} this is"
        return matches[0]

    def _labels(self) -> dict[str, str]:
        return {HARNESS_LABEL: self.run_id}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        raise UntranslatedInputError(f"function {args.token} is not applied by the harness")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if not args.custom:  # a component: nothing to apply
            return f"{args.name}-component", {}
        with self.lock:
            if self.stopped:  # the Pulumi engine starts no step after a failed one
                raise ApplyError(f"{args.typ} {args.name}: not applied, the update had already failed")
            self.in_flight += 1
        try:
            return self._apply(args)
        except ApplyError as error:  # name the resource, as `pulumi up` does
            raise ApplyError(f"{args.typ} {args.name}: {error}") from error
        finally:
            with self.lock:
                self.in_flight -= 1

    def _apply(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        registration = self._registration(args)
        urn, inputs = registration.urn, json.loads(json.dumps(unwrap_secrets(args.inputs)))
        with self.lock:
            previous = self.state.get(urn)
        action = "create" if previous is None else self._plan(args.typ, previous, inputs, registration)
        try:
            if action == "same":
                assert previous is not None
                resource_id, outputs = previous["id"], previous["outputs"]
            elif action == "update":
                assert previous is not None
                resource_id, outputs = self._update(args.typ, previous, inputs)
            else:
                # PD resources.go: containers are always deleted before they are replaced.
                delete_first = args.typ == CONTAINER or registration.delete_before_replace
                if previous is not None and delete_first:
                    self.delete(args.typ, previous)
                resource_id, outputs = self.create(args.typ, inputs)
                if previous is not None and not delete_first:
                    with self.lock:
                        self.pending_deletes.append(previous)
                        self._save()
        except _PartialCreateError as error:
            self._record(urn, args.typ, error.resource_id, inputs, error.outputs, registration, action, init_error=True)
            raise
        self._record(urn, args.typ, resource_id, inputs, outputs, registration, action)
        return resource_id, outputs

    def _record(
        self, urn: str, typ: str, resource_id: str, inputs: dict[str, Any], outputs: dict[str, Any],
        registration: Registration, action: str, init_error: bool = False,
    ) -> None:  # fmt: skip
        with self.lock:
            self.state[urn] = {
                "type": typ,
                "id": resource_id,
                "inputs": inputs,
                "outputs": outputs,
                "retain_on_delete": registration.retain_on_delete,
                "init_error": init_error,
            }
            self.changes.append(Change(urn, action))
            self._save()

    # --- planning: the provider's Diff -------------------------------------
    def _plan(self, typ: str, previous: dict[str, Any], inputs: dict[str, Any], registration: Registration) -> str:
        changed = _changed_inputs(typ, previous, inputs)
        if previous.get("init_error") and not changed:
            raise UntranslatedInputError(
                f"{registration.name} failed to initialize in the last apply; what Pulumi does on an unchanged "
                "re-run is not modelled. Change or revert its inputs"
            )
        if not changed:
            return "same"
        if typ == CONTAINER:
            if changed - CONTAINER_IN_PLACE or changed & set(registration.replace_on_changes):
                return "replace"
            return "update"
        if typ == IMAGE:
            return "update"  # PD provider.go Diff: every change is an UPDATE, never a replace
        if typ == SERVICE:
            old = previous["inputs"]
            mode_kind_changed = "mode" in changed and set(old.get("mode", {})) != set(inputs.get("mode", {}))
            return "replace" if changed & (SERVICE_FORCE_NEW - {"mode"}) or mode_kind_changed else "update"
        if typ == REMOTE_IMAGE and changed <= REMOTE_IMAGE_IN_PLACE:
            return "update"
        return "replace"  # networks, volumes, random passwords: every input is ForceNew

    # --- refresh: the provider's Read --------------------------------------
    def refresh(self) -> None:
        """What `pulumi refresh` (or refresh: always) reads back, per resource type."""
        for urn, resource in list(self.state.items()):
            typ, resource_id = resource["type"], resource["id"]
            if typ == CONTAINER:
                try:
                    container = self.client.containers.get(resource_id)
                except docker.errors.NotFound:  # TF Read: gone -> SetId("") -> created again
                    self._forget(urn)
                    continue
                if not container.attrs["State"]["Running"]:
                    # TF Read: ports are read back (empty for a stopped container) while
                    # must_run is true in the state; then must_run is set false.
                    drift: dict[str, Any] = {"mustRun": False}
                    if resource["inputs"].get("ports"):
                        drift["ports"] = []
                    resource["drift"] = drift
            elif typ in (NETWORK, VOLUME, REMOTE_IMAGE, SERVICE) and not self._exists(typ, resource_id, resource["inputs"]):
                self._forget(urn)  # TF Read of a network, volume or image that is gone
            # PD provider.go Read of the native Image does nothing; a random password is not read.
        self._save()

    def _forget(self, urn: str) -> None:
        del self.state[urn]
        self.changes.append(Change(urn, "refresh-removed"))

    def _exists(self, typ: str, resource_id: str, inputs: dict[str, Any]) -> bool:
        try:
            if typ == NETWORK:
                self.client.networks.get(resource_id)
            elif typ == VOLUME:
                self.client.volumes.get(resource_id)
            elif typ == SERVICE:
                self.client.services.get(resource_id)
            else:
                self.client.images.get(inputs["name"])
        except docker.errors.NotFound:
            return False
        return True

    def delete_unregistered(self, registered: set[str]) -> None:
        gone = [urn for urn in self.state if urn not in registered]
        for typ in DELETE_ORDER:
            for resource in [r for r in self.pending_deletes if r["type"] == typ]:
                self.delete(typ, resource)
            for urn in gone:
                if urn in self.state and self.state[urn]["type"] == typ:
                    self.delete(typ, self.state[urn])
                    del self.state[urn]
                    self.changes.append(Change(urn, "delete"))
        self.pending_deletes = []
        self._save()

    # --- per type: the provider's Create, Update and Delete -----------------
    def create(self, typ: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if typ == RANDOM_PASSWORD:
            _only(inputs, {"length", "special"}, typ)
            alphabet = string.ascii_letters + string.digits + ("!#$%&*()-_=+[]{}<>:?" if inputs.get("special", True) else "")
            result = "".join(secrets.choice(alphabet) for _ in range(int(inputs["length"])))
            return secrets.token_hex(8), {**inputs, "result": result}
        if typ == NETWORK:
            _only(inputs, {"name", "driver", "internal", "attachable"}, typ)
            if self.client.networks.list(names=[inputs["name"]]):  # the engine client's duplicate check
                raise ApplyError(f"Unable to create network: network with name {inputs['name']} already exists")
            network = self.client.networks.create(
                inputs["name"],
                driver=inputs.get("driver", "bridge"),
                internal=bool(inputs.get("internal")),
                attachable=bool(inputs.get("attachable")) or None,
                labels=self._labels(),
            )
            return network.id, {**inputs, "id": network.id}
        if typ == VOLUME:
            _only(inputs, {"name", "labels"}, typ)
            labels = {item["label"]: item["value"] for item in inputs.get("labels", [])} | self._labels()
            volume = self.client.volumes.create(inputs["name"], labels=labels)
            return volume.name, {**inputs, "mountpoint": volume.attrs["Mountpoint"]}
        if typ == IMAGE:
            # PD provider.go Create: the resource's ID is the image name it was first built as.
            return inputs["imageName"], self._build(inputs)
        if typ == REMOTE_IMAGE:
            return self._ensure_image(inputs)
        if typ == CONTAINER:
            return self._run(inputs)
        if typ == SERVICE:
            return self._create_service(inputs)
        raise UntranslatedInputError(f"resource type {typ} is not applied by the harness")

    def _update(self, typ: str, previous: dict[str, Any], inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if typ == IMAGE:
            return previous["id"], self._build(inputs)  # PD provider.go Update rebuilds; the ID stays
        if typ == REMOTE_IMAGE:
            return previous["id"], {**previous["outputs"], **inputs}
        if typ == SERVICE:
            return self._update_service(previous, inputs)
        old = {**previous["inputs"], **previous.get("drift", {})}
        changed = _changed_inputs(typ, previous, inputs)
        if changed & CONTAINER_UPDATE_NOT_TRANSLATED:
            raise UntranslatedInputError(f"Container update of {sorted(changed & CONTAINER_UPDATE_NOT_TRANSLATED)}")
        container = self.client.containers.get(previous["id"])
        if not _with_default(old, "mustRun") and _with_default(inputs, "mustRun") and _with_default(inputs, "start"):
            container.start()
        if changed & CONTAINER_UPDATE_SENT:
            memory = int(inputs.get("memory", 0)) * 1024 * 1024
            swap = int(inputs.get("memorySwap", 0))
            container.update(
                restart_policy={
                    "Name": _with_default(inputs, "restart"),
                    "MaximumRetryCount": int(inputs.get("maxRetryCount", 0)),
                },
                mem_limit=memory or None,
                memswap_limit=(swap * 1024 * 1024 if swap > 0 else swap) or None,
                cpu_shares=int(inputs.get("cpuShares", 0)) or None,
            )
        return previous["id"], {**previous["outputs"], **inputs}

    def delete(self, typ: str, resource: dict[str, Any]) -> None:
        if resource.get("retain_on_delete") or typ in (IMAGE, RANDOM_PASSWORD):  # PD: the Image's Delete removes nothing
            return
        if typ == REMOTE_IMAGE and resource["inputs"].get("keepLocally"):
            return
        try:
            if typ == CONTAINER:
                # TF Delete: stop with destroy_grace_seconds (0: at once), then remove.
                container = self.client.containers.get(resource["id"])
                container.stop(timeout=int(_with_default(resource["inputs"], "destroyGraceSeconds")))
                container.remove(v=bool(_with_default(resource["inputs"], "removeVolumes")), force=True)
            elif typ in (NETWORK, VOLUME):
                self._delete_when_free(typ, resource["id"])
            elif typ == SERVICE:
                self._delete_service(resource["id"])
            elif typ == REMOTE_IMAGE:
                self.client.images.remove(resource["id"])
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            raise ApplyError(f"deleting {typ} {resource['id']}: {error.explanation}") from error

    def _delete_when_free(self, typ: str, resource_id: str) -> None:
        deadline = time.monotonic() + IN_USE_DELETE_TIMEOUT_S
        time.sleep(IN_USE_DELETE_DELAY_S)
        while True:
            try:
                (self.client.networks.get(resource_id) if typ == NETWORK else self.client.volumes.get(resource_id)).remove()
                return
            except docker.errors.APIError as error:
                in_use = "has active endpoints" in str(error.explanation) or "volume is in use" in str(error.explanation)
                if not in_use or time.monotonic() + IN_USE_DELETE_RETRY_S > deadline:
                    raise
            time.sleep(IN_USE_DELETE_RETRY_S)

    def _ensure_image(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """RemoteImage: use the local image, or pull it when missing (as the provider does)."""
        _only(inputs, {"name", "keepLocally"}, REMOTE_IMAGE)
        try:
            image = self.client.images.get(inputs["name"])
        except docker.errors.ImageNotFound:
            try:
                image = self.client.images.pull(inputs["name"])
            except docker.errors.APIError as error:
                raise ApplyError(
                    f"Unable to read Docker image into resource: unable to pull image {inputs['name']}: {error}"
                ) from error
        return image.id, {**inputs, "imageId": image.id, "repoDigest": _repo_digest(inputs["name"], image.attrs)}

    def _build(self, inputs: dict[str, Any]) -> dict[str, Any]:
        # buildOnPreview only matters to `pulumi preview`; an apply always builds.
        _only(inputs, {"imageName", "build", "skipPush", "buildOnPreview"}, IMAGE)
        build = inputs["build"]
        _only(build, {"context", "dockerfile", "args", "platform"}, "Image.build")
        context = Path(build["context"]).resolve()
        dockerfile = Path(build["dockerfile"]).resolve().relative_to(context).as_posix()
        build_image(
            context, dockerfile, inputs["imageName"], build.get("args", {}), build.get("platform"), self._labels(),
            docker_host=self.docker_host,
        )  # fmt: skip
        if not inputs.get("skipPush"):
            return {**inputs, "repoDigest": self._push(inputs["imageName"]), "platform": build.get("platform")}
        image_id = self.client.images.get(inputs["imageName"]).id
        # With skip_push the provider reports the local image ID as repo_digest.
        return {**inputs, "repoDigest": image_id, "platform": build.get("platform")}

    def _push(self, image_name: str) -> str:
        """PD image.go (5.1+): push the built image to the registry its name says; repo_digest is
        `<repository>@<the digest in the push's aux PushResult>` (the tag trimmed)."""
        repository, tag = image_name.rsplit(":", 1)
        if not re.search(r"[.:]", repository.split("/")[0]) or "/" not in repository:
            raise UntranslatedInputError(f"{image_name}: Docker Hub names are normalised by the provider; not modelled")
        digest = None
        for line in self.client.api.push(repository, tag, stream=True, decode=True):
            if "error" in line:
                raise ApplyError(f"pushing {image_name}: {line['error']}")
            digest = (line.get("aux") or {}).get("Digest", digest)
        if digest is None:
            raise ApplyError(f"pushing {image_name}: the registry reported no digest")
        return f"{repository}@{digest}"

    def _run(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        _only(inputs, CONTAINER_TRANSLATED, CONTAINER)
        ports = {}
        for port in inputs.get("ports", []):
            _only(port, {"internal", "external", "ip", "protocol"}, "Container.ports")
            key = f"{int(port['internal'])}/{port.get('protocol', 'tcp')}"
            ports[key] = (port.get("ip", "0.0.0.0"), int(port.get("external", port["internal"])))
        mounts = []
        for mount in inputs.get("mounts", []):
            _only(mount, {"type", "source", "target", "readOnly"}, "Container.mounts")
            mounts.append(Mount(mount["target"], mount["source"], type=mount["type"], read_only=mount.get("readOnly", False)))
        volumes = {}
        for volume in inputs.get("volumes", []):
            _only(volume, {"volumeName", "containerPath", "readOnly"}, "Container.volumes")
            volumes[volume["volumeName"]] = {"bind": volume["containerPath"], "mode": "ro" if volume.get("readOnly") else "rw"}
        labels = {item["label"]: item["value"] for item in inputs.get("labels", [])} | self._labels()
        capabilities = inputs.get("capabilities", {})
        _only(capabilities, {"adds", "drops"}, "Container.capabilities")
        try:
            container = self.client.containers.create(
                inputs["image"],
                name=inputs["name"],
                command=inputs.get("command"),
                environment=inputs.get("envs", []),
                labels=labels,
                ports=ports,
                mounts=mounts,
                volumes=volumes,
                restart_policy={"Name": _with_default(inputs, "restart")},
                init=False,
                cap_add=capabilities.get("adds"),
                cap_drop=capabilities.get("drops"),
                security_opt=inputs.get("securityOpts"),
                healthcheck=_healthcheck(inputs.get("healthcheck")),
                # TF: log_driver defaults to "json-file"; create sets HostConfig.LogConfig{Type, Config: log_opts}.
                log_config=LogConfig(type=inputs.get("logDriver", "json-file"), config=inputs.get("logOpts") or {}),
                # TF: dns_opts (ForceNew) -> HostConfig.DNSOptions.
                dns_opt=inputs.get("dnsOpts"),
                # TF: user -> Config.User; network_mode -> HostConfig.NetworkMode (the engine's default bridge when unset).
                user=inputs.get("user"),
                network_mode=inputs.get("networkMode"),
            )
        except docker.errors.APIError as error:
            raise ApplyError(f"Unable to create container: {error.explanation}") from error
        outputs = {**inputs, "id": container.id}
        try:
            # TF: leave the default bridge, join the declared networks, upload, start.
            if inputs.get("networksAdvanced"):
                self.client.networks.get("bridge").disconnect(container)
                for network in inputs["networksAdvanced"]:
                    _only(network, {"name", "aliases"}, "Container.networksAdvanced")
                    self.client.networks.get(network["name"]).connect(container, aliases=network.get("aliases"))
            for upload in inputs.get("uploads", []):
                _only(upload, {"file", "content"}, "Container.uploads")
                container.put_archive("/", _tar_of(upload["file"], upload["content"]))
            container.start()
            if inputs.get("attach"):
                container.wait(timeout=ATTACH_TIMEOUT_S)
            if _with_default(inputs, "wait"):
                self._wait_healthy(container, int(_with_default(inputs, "waitTimeout")))
        except docker.errors.APIError as error:
            raise _PartialCreateError(
                f"creating container {inputs['name']}: {error.explanation}", container.id, outputs
            ) from error
        except ApplyError as error:
            raise _PartialCreateError(str(error), container.id, outputs) from error
        return container.id, outputs

    def _create_service(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """TF resourceDockerServiceCreate: create, then (with converge_config) wait for convergence;
        a create that does not converge deletes the service and fails."""
        _only(inputs, SERVICE_TRANSLATED, SERVICE)
        try:
            created = self.client.api.create_service(**_service_spec(inputs, self._labels()))
        except docker.errors.APIError as error:
            raise ApplyError(f"Unable to create service: {error.explanation}") from error
        service_id = created["ID"]
        if inputs.get("convergeConfig"):
            try:
                self._wait_converged(service_id, inputs, update=False)
            except ApplyError:
                self._delete_service(service_id)
                raise
        return service_id, {**inputs, "id": service_id}

    def _update_service(self, previous: dict[str, Any], inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """TF resourceDockerServiceUpdate: the whole spec at the service's current version, then the converge wait."""
        _only(inputs, SERVICE_TRANSLATED, SERVICE)
        service_id = previous["id"]
        version = self.client.api.inspect_service(service_id)["Version"]["Index"]
        try:
            self.client.api.update_service(service_id, version, **_service_spec(inputs, self._labels()))
        except docker.errors.APIError as error:
            raise ApplyError(f"Unable to update service: {error.explanation}") from error
        if inputs.get("convergeConfig"):
            self._wait_converged(service_id, inputs, update=True)  # a failure leaves the service as updated
        return service_id, {**previous["outputs"], **inputs}

    def _wait_converged(self, service_id: str, inputs: dict[str, Any], *, update: bool) -> None:
        """TF resourceDockerServiceCreate/Update with converge_config (replicated mode only: it
        conflicts with global). The first check comes after `delay` (an update always waits 7 s,
        ignoring it), then every 5 s, 10 s, 10 s, ... (plugin SDK retry.StateChangeConf, MinTimeout
        5 s) until `timeout`, counted from the start. Converged: as many tasks with desired state
        running are running as there are replicas (tasks on down nodes not counted); an update
        first reads UpdateStatus: completed is done, paused or a rollback is an error."""
        converge = inputs["convergeConfig"]
        started = time.monotonic()
        timeout_s = _duration_ns(converge.get("timeout", "3m")) / 1e9
        time.sleep(7.0 if update else _duration_ns(converge.get("delay", "7s")) / 1e9)
        replicas = int(inputs["mode"]["replicated"].get("replicas", 1))
        wait_s = CONVERGE_FIRST_WAIT_S
        while True:
            service = self.client.api.inspect_service(service_id)
            update_state = (service.get("UpdateStatus") or {}).get("State")
            if update and update_state == "completed":
                return
            if update and update_state in ("paused", "rollback_paused", "rollback_completed"):
                raise ApplyError(f"service update {update_state}: {service['UpdateStatus'].get('Message', '')}")
            down = {n["ID"] for n in self.client.api.nodes() if n["Status"]["State"] == "down"}
            tasks = self.client.api.tasks(filters={"service": service_id, "desired-state": "running"})
            running = [t for t in tasks if t["Status"]["State"] == "running" and t.get("NodeID") not in down]
            if len(running) == replicas:
                return
            if time.monotonic() - started + wait_s > timeout_s:
                states = sorted(f"{t['Status']['State']} {t['Status'].get('Err', '')}".strip() for t in tasks)
                raise ApplyError(
                    f"Service with ID ({service_id}) did not converge after {converge.get('timeout', '3m')}: {states}"
                )
            time.sleep(wait_s)
            wait_s = CONVERGE_NEXT_WAIT_S

    def _delete_service(self, service_id: str) -> None:
        """TF resourceDockerServiceDelete: remove the service, then wait until its tasks' containers are gone."""
        self.client.api.remove_service(service_id)
        deadline = time.monotonic() + SERVICE_REMOVE_TIMEOUT_S
        while self.client.api.tasks(filters={"service": service_id}) and time.monotonic() < deadline:
            time.sleep(SERVICE_REMOVE_POLL_S)

    def _wait_healthy(self, container: Any, timeout_s: int) -> None:
        """TF resourceDockerContainerCreate with wait = true."""
        deadline = time.monotonic() + timeout_s
        while True:
            container.reload()
            health = container.attrs["State"].get("Health")
            if health is None:
                raise ApplyError(
                    "you have supplied a 'wait' argument, but the container does not have a healthcheck defined. "
                    "Please remove the 'wait' argument or add a 'healthcheck' attribute"
                )
            if health["Status"] == "healthy":
                return
            if time.monotonic() + HEALTH_POLL_S > deadline:
                raise ApplyError("container failed to be in healthy state")
            time.sleep(HEALTH_POLL_S)


def _with_default(inputs: dict[str, Any], key: str) -> Any:
    return inputs.get(key, CONTAINER_DEFAULTS.get(key))


def _changed_inputs(typ: str, previous: dict[str, Any], inputs: dict[str, Any]) -> set[str]:
    """Inputs that differ from the state, as refreshed; for containers an unset input is its schema default."""
    old = {**previous["inputs"], **previous.get("drift", {})}
    value = _with_default if typ == CONTAINER else dict.get
    return {key for key in set(inputs) | set(old) if value(inputs, key) != value(old, key)}


def _healthcheck(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """TF container healthcheck block -> the engine's HealthConfig."""
    if spec is None:
        return None
    _only(spec, {"tests", "interval", "timeout", "startPeriod", "retries"}, "Container.healthcheck")
    return {
        "test": spec["tests"],
        "interval": _duration_ns(spec.get("interval", "0s")),
        "timeout": _duration_ns(spec.get("timeout", "0s")),
        "start_period": _duration_ns(spec.get("startPeriod", "0s")),
        "retries": int(spec.get("retries", 0)),
    }


def _repo_digest(name: str, image: dict[str, Any]) -> str:
    """TF determineRepoDigest: the RepoDigests entry of the name without its tag, else the first, else ''."""
    digests = image.get("RepoDigests") or []
    repository = name.split("@")[0]
    if ":" in repository.rsplit("/", 1)[-1]:  # a tag, not a registry's port
        repository = repository.rsplit(":", 1)[0]
    return next((d for d in digests if d.startswith(repository + "@")), digests[0] if digests else "")


def _service_spec(inputs: dict[str, Any], harness_labels: dict[str, str]) -> dict[str, Any]:
    """TF createServiceSpec: the docker_service inputs as the engine's ServiceSpec (docker-py keywords)."""
    task = inputs["taskSpec"]
    _only(task, {"containerSpec", "placement", "resources"}, "Service.taskSpec")
    container = task["containerSpec"]
    _only(container, {"image", "commands", "user", "readOnly"}, "Service.taskSpec.containerSpec")
    if "@sha256:" not in container["image"]:
        # TF createContainerSpec sets QueryRegistry: the client pins a tag to the registry's digest.
        raise UntranslatedInputError("Service image without a digest: the provider's registry lookup is not modelled")
    placement = task.get("placement", {})
    _only(placement, {"constraints", "maxReplicas"}, "Service.taskSpec.placement")
    limits = task.get("resources", {}).get("limits", {})
    _only(task.get("resources", {}), {"limits"}, "Service.taskSpec.resources")
    _only(limits, {"memoryBytes", "nanoCpus"}, "Service.taskSpec.resources.limits")
    mode = inputs["mode"]
    _only(mode, {"replicated"}, "Service.mode")
    update = inputs.get("updateConfig", {})
    _only(update, {"parallelism", "order", "failureAction"}, "Service.updateConfig")
    template = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(
            container["image"], command=container.get("commands"), user=container.get("user"),
            read_only=container.get("readOnly"),
        ),
        placement=docker.types.Placement(
            constraints=placement.get("constraints"),
            maxreplicas=int(placement["maxReplicas"]) if "maxReplicas" in placement else None,
        ),
        resources=docker.types.Resources(
            cpu_limit=int(limits["nanoCpus"]) if "nanoCpus" in limits else None,
            mem_limit=int(limits["memoryBytes"]) if "memoryBytes" in limits else None,
        ),
    )  # fmt: skip
    return {
        "task_template": template,
        "name": inputs["name"],
        "labels": {item["label"]: item["value"] for item in inputs.get("labels", [])} | harness_labels,
        "mode": docker.types.ServiceMode("replicated", replicas=int(mode["replicated"].get("replicas", 1))),
        "update_config": docker.types.UpdateConfig(
            parallelism=int(update.get("parallelism", 1)), order=update.get("order", "stop-first"),
            failure_action=update.get("failureAction", "pause"),
        ),
    }  # fmt: skip


def _tar_of(path: str, content: str) -> bytes:
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(path)
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class ApplyResult:
    run: ProgramRun
    changes: list[Change]
    seconds: float

    def action(self, type_: str, name: str) -> str:
        urn = self.run.get(type_, name).urn
        actions = [c.action for c in self.changes if c.urn == urn and c.action != "refresh-removed"]
        return actions[-1]

    def refreshed_away(self, type_: str, name: str) -> bool:
        """The refresh found this resource gone from the engine."""
        urn = self.run.get(type_, name).urn
        return any(c.urn == urn and c.action == "refresh-removed" for c in self.changes)


@dataclass
class Harness:
    """`pulumi up` / `pulumi destroy` for one project copy and stack, on a real engine."""

    project_dir: Path
    stack: str
    config: dict[str, str]
    run_id: str
    client: docker.DockerClient | None = None  # default: the provider's engine (`docker:host` of the stack, else DOCKER_HOST)
    # `pulumi config set --secret` values, given to every update (a stack file holds them encrypted)
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.project_dir / f".harness-state.{self.stack}.json"

    def engine_mocks(self) -> EngineMocks:
        return EngineMocks(self.engine_client, self.state_file, self.run_id, self.docker_host)

    @property
    def docker_host(self) -> str | None:
        """The provider's engine, from its `docker:host` stack config (as pulumi-docker reads it)."""
        return {**stack_config(self.stack, self.project_dir), **self.config}.get("docker:host")

    @property
    def engine_client(self) -> docker.DockerClient:
        if self.client is None:
            host = self.docker_host
            self.client = docker.DockerClient(base_url=host, timeout=600) if host else docker.from_env(timeout=600)
        return self.client

    def up(self, config: dict[str, str] | None = None, secrets: dict[str, str] | None = None) -> ApplyResult:
        mocks = self.engine_mocks()
        started = time.monotonic()
        if refresh_is_always(self.project_dir):
            mocks.refresh()
        try:
            run = run_program(
                mocks,
                stack=self.stack,
                project_dir=self.project_dir,
                config={**self.config, **(config or {})},
                secrets={**self.secrets, **(secrets or {})},
                on_monitor=lambda monitor: setattr(mocks, "monitor", monitor),
            )
        finally:
            mocks.wait_for_operations()
        mocks.delete_unregistered({urn for urn, r in run.registrations.items() if r.custom})
        return ApplyResult(run, mocks.changes, time.monotonic() - started)

    def destroy(self) -> None:
        self.engine_mocks().delete_unregistered(set())
