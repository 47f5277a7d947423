"""Apply the Pulumi program's resources to a real Docker engine, without the Pulumi CLI.

The program runs under `pulumi.runtime.set_mocks`; `EngineMocks.new_resource` does
what pulumi-docker v5 (the Terraform docker provider underneath) does for each
declared resource, with the docker SDK, and returns the outputs the provider would.
State between applies lives in a JSON file, so a second apply plays the update the
provider would: nothing for unchanged inputs, an in-place update where the
provider updates, otherwise a replacement (deleted first where the program asks
for delete-before-replace). Resources no longer declared are deleted after the run.

Inputs the harness does not translate raise `UntranslatedInputError`: nothing is
silently dropped. Everything created carries the label HARNESS_LABEL.
"""

from __future__ import annotations

import io
import json
import secrets
import string
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pulumi
from docker.types import Mount

from tests.program_runner import ProgramRun, RecordingMonitor, Registration, run_program, unwrap_secrets

HARNESS_LABEL = "org.jupyterhub-docker.e2e"
CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
PULL_TIMEOUT_S = 120
OPERATIONS_WAIT_S = 900
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
# pulumi-docker Container inputs updated in place; every other input change replaces it.
CONTAINER_UPDATABLE = {"restart", "memory", "memorySwap", "cpuShares", "maxRetryCount"}
CONTAINER_RUNNING_WAIT_S = 15
# Pulumi deletes dependents first.
DELETE_ORDER = [CONTAINER, IMAGE, REMOTE_IMAGE, VOLUME, NETWORK, RANDOM_PASSWORD]


class UntranslatedInputError(ValueError):
    """The program used an input this harness cannot apply faithfully."""


class ApplyError(RuntimeError):
    """The engine refused a change (the provider would fail the same way)."""


@dataclass
class Change:
    urn: str
    action: str  # create | replace | update | same | delete


def _only(inputs: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(inputs) - allowed
    if unknown:
        raise UntranslatedInputError(f"{what}: the harness does not apply {sorted(unknown)}")


class EngineMocks(pulumi.runtime.Mocks):
    def __init__(self, client: docker.DockerClient, state_file: Path, run_id: str):
        self.client = client
        self.state_file = state_file
        self.run_id = run_id
        self.state: dict[str, dict[str, Any]] = json.loads(state_file.read_text()) if state_file.exists() else {}
        self.changes: list[Change] = []
        self.monitor: RecordingMonitor | None = None
        self.lock = threading.Lock()
        self.in_flight = 0

    # --- bookkeeping -------------------------------------------------------
    def _save(self) -> None:
        partial = self.state_file.with_suffix(".partial")
        partial.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        partial.replace(self.state_file)

    def wait_for_operations(self) -> None:
        """Like the Pulumi engine after a failure: let operations already under way finish."""
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
        if previous is None:
            action = "create"
            resource_id, outputs = self._create(args.typ, inputs)
        else:
            action = self._plan(args.typ, previous, inputs)
            if action == "same" and not self._exists(args.typ, previous["id"]):
                action = "replace"  # deleted behind Pulumi's back: a refresh would recreate it
            if action == "replace" and registration.delete_before_replace:
                self._delete(args.typ, previous, registration.retain_on_delete)
            if action == "same":
                resource_id, outputs = previous["id"], previous["outputs"]
            elif action == "update":
                resource_id, outputs = self._update(args.typ, previous, inputs)
            else:
                resource_id, outputs = self._create(args.typ, inputs)
                if not registration.delete_before_replace:
                    self._delete(args.typ, previous, registration.retain_on_delete)
        with self.lock:
            self.state[urn] = {
                "type": args.typ,
                "id": resource_id,
                "inputs": inputs,
                "outputs": outputs,
                "retain_on_delete": registration.retain_on_delete,
            }
            self.changes.append(Change(urn, action))
            self._save()
        return resource_id, outputs

    def _plan(self, typ: str, previous: dict[str, Any], inputs: dict[str, Any]) -> str:
        if previous["inputs"] == inputs:
            return "same"
        if typ == CONTAINER:
            changed = {k for k in set(inputs) | set(previous["inputs"]) if inputs.get(k) != previous["inputs"].get(k)}
            return "update" if changed <= CONTAINER_UPDATABLE else "replace"
        if typ == IMAGE and inputs["imageName"] == previous["inputs"]["imageName"]:
            return "update"  # a context change: the provider rebuilds under the same name
        return "replace"

    def delete_unregistered(self, registered: set[str]) -> None:
        gone = [urn for urn in self.state if urn not in registered]
        for typ in DELETE_ORDER:
            for urn in gone:
                if urn in self.state and self.state[urn]["type"] == typ:
                    self._delete(typ, self.state[urn], self.state[urn]["retain_on_delete"])
                    del self.state[urn]
                    self.changes.append(Change(urn, "delete"))
        self._save()

    # --- per type ----------------------------------------------------------
    def _exists(self, typ: str, resource_id: str) -> bool:
        getters = {
            CONTAINER: self.client.containers.get,
            NETWORK: self.client.networks.get,
            VOLUME: self.client.volumes.get,
            IMAGE: self.client.images.get,
            REMOTE_IMAGE: self.client.images.get,
        }
        if typ not in getters:
            return True
        try:
            getters[typ](resource_id)
        except docker.errors.NotFound:
            return False
        return True

    def _create(self, typ: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if typ == RANDOM_PASSWORD:
            _only(inputs, {"length", "special"}, typ)
            alphabet = string.ascii_letters + string.digits + ("!#$%&*()-_=+[]{}<>:?" if inputs.get("special", True) else "")
            result = "".join(secrets.choice(alphabet) for _ in range(int(inputs["length"])))
            return secrets.token_hex(8), {**inputs, "result": result}
        if typ == NETWORK:
            _only(inputs, {"name", "driver", "internal"}, typ)
            network = self.client.networks.create(
                inputs["name"],
                driver=inputs.get("driver", "bridge"),
                internal=bool(inputs.get("internal")),
                labels=self._labels(),
            )
            return network.id, {**inputs, "id": network.id}
        if typ == VOLUME:
            _only(inputs, {"name", "labels"}, typ)
            labels = {item["label"]: item["value"] for item in inputs.get("labels", [])} | self._labels()
            volume = self.client.volumes.create(inputs["name"], labels=labels)
            return volume.name, {**inputs, "mountpoint": volume.attrs["Mountpoint"]}
        if typ == IMAGE:
            return self._build(inputs)
        if typ == REMOTE_IMAGE:
            return self._ensure_image(inputs)
        if typ == CONTAINER:
            return self._run(inputs)
        raise UntranslatedInputError(f"resource type {typ} is not applied by the harness")

    def _update(self, typ: str, previous: dict[str, Any], inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if typ == IMAGE:
            return self._build(inputs)
        container = self.client.containers.get(previous["id"])
        _only(inputs, set(previous["inputs"]) | CONTAINER_UPDATABLE, typ)
        restart = inputs.get("restart", "no")
        container.update(restart_policy={"Name": restart}, mem_limit=f"{int(inputs['memory'])}m" if "memory" in inputs else None)
        return previous["id"], {**previous["outputs"], **inputs}

    def _delete(self, typ: str, resource: dict[str, Any], retain: bool) -> None:
        if retain or typ in (IMAGE, RANDOM_PASSWORD):  # pulumi-docker's Image delete removes nothing
            return
        if typ == REMOTE_IMAGE and resource["inputs"].get("keepLocally"):
            return
        try:
            if typ == CONTAINER:
                self.client.containers.get(resource["id"]).remove(force=True)
            elif typ == NETWORK:
                self.client.networks.get(resource["id"]).remove()
            elif typ == VOLUME:
                self.client.volumes.get(resource["id"]).remove()
            elif typ == REMOTE_IMAGE:
                self.client.images.remove(resource["id"])
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            raise ApplyError(f"deleting {typ} {resource['id']}: {error.explanation}") from error

    def _ensure_image(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """RemoteImage: use the local image, or pull it when missing (as the provider does)."""
        _only(inputs, {"name", "keepLocally"}, REMOTE_IMAGE)
        try:
            image = self.client.images.get(inputs["name"])
        except docker.errors.ImageNotFound:
            try:
                image = docker.from_env(timeout=PULL_TIMEOUT_S).images.pull(inputs["name"])
            except docker.errors.APIError as error:
                raise ApplyError(
                    f"Unable to read Docker image into resource: unable to pull image {inputs['name']}: {error}"
                ) from error
        return image.id, {**inputs, "imageId": image.id, "repoDigest": image.id}

    def _build(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        # buildOnPreview only matters to `pulumi preview`; an apply always builds.
        _only(inputs, {"imageName", "build", "skipPush", "buildOnPreview"}, IMAGE)
        if not inputs.get("skipPush"):
            raise UntranslatedInputError("Image with a push to a registry: no registry is reachable here")
        build = inputs["build"]
        _only(build, {"context", "dockerfile", "args", "platform"}, "Image.build")
        context = Path(build["context"]).resolve()
        dockerfile = Path(build["dockerfile"]).resolve().relative_to(context).as_posix()
        log: list[str] = []
        image_id = None
        for chunk in self.client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            buildargs=build.get("args", {}),
            tag=inputs["imageName"],
            platform=build.get("platform"),
            labels=self._labels(),
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "stream" in chunk:
                log.append(chunk["stream"])
            if "error" in chunk:
                tail = "".join(log[-15:])
                raise ApplyError(f"building {inputs['imageName']} failed: {chunk['error'].strip()}\n{tail}")
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
        if image_id is None:
            image_id = self.client.images.get(inputs["imageName"]).id
        # With skip_push the provider reports the local image ID as repo_digest.
        return image_id, {**inputs, "repoDigest": image_id, "platform": build.get("platform")}

    def _run(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        _only(
            inputs,
            {
                "name",
                "image",
                "command",
                "envs",
                "labels",
                "ports",
                "mounts",
                "volumes",
                "networksAdvanced",
                "restart",
                "uploads",
                "capabilities",
                "securityOpts",
            },
            CONTAINER,
        )
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
                restart_policy={"Name": inputs.get("restart", "no")},
                init=False,
                cap_add=capabilities.get("adds"),
                cap_drop=capabilities.get("drops"),
                security_opt=inputs.get("securityOpts"),
            )
        except docker.errors.APIError as error:
            raise ApplyError(f"creating container {inputs['name']}: {error.explanation}") from error
        # Like the provider: leave the default bridge, join the declared networks.
        if inputs.get("networksAdvanced"):
            self.client.networks.get("bridge").disconnect(container)
            for network in inputs["networksAdvanced"]:
                _only(network, {"name", "aliases"}, "Container.networksAdvanced")
                self.client.networks.get(network["name"]).connect(container, aliases=network.get("aliases"))
        for upload in inputs.get("uploads", []):
            _only(upload, {"file", "content"}, "Container.uploads")
            container.put_archive("/", _tar_of(upload["file"], upload["content"]))
        container.start()
        self._wait_running(container)
        return container.id, {**inputs, "id": container.id}

    def _wait_running(self, container: Any) -> None:
        deadline = time.monotonic() + CONTAINER_RUNNING_WAIT_S
        while time.monotonic() < deadline:
            container.reload()
            if container.status == "running":
                return
            if container.status in ("exited", "dead"):
                break
            time.sleep(0.2)
        logs = container.logs(tail=20).decode(errors="replace")
        container.remove(force=True)
        raise ApplyError(f"container {container.name} failed to be in running state ({container.status}):\n{logs}")


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
        actions = [c.action for c in self.changes if c.urn == urn]
        return actions[-1]


class Harness:
    """`pulumi up` / `pulumi destroy` for one project copy and stack, on a real engine."""

    def __init__(self, project_dir: Path, stack: str, config: dict[str, str], run_id: str):
        self.project_dir = project_dir
        self.stack = stack
        self.config = config
        self.run_id = run_id
        self.client = docker.from_env(timeout=600)
        self.state_file = project_dir / f".harness-state.{stack}.json"

    def up(self, config: dict[str, str] | None = None, secrets: dict[str, str] | None = None) -> ApplyResult:
        mocks = EngineMocks(self.client, self.state_file, self.run_id)
        started = time.monotonic()
        try:
            run = run_program(
                mocks,
                stack=self.stack,
                project_dir=self.project_dir,
                config={**self.config, **(config or {})},
                secrets=secrets,
                on_monitor=lambda monitor: setattr(mocks, "monitor", monitor),
            )
        finally:
            mocks.wait_for_operations()
        mocks.delete_unregistered({urn for urn, r in run.registrations.items() if r.custom})
        return ApplyResult(run, mocks.changes, time.monotonic() - started)

    def destroy(self) -> None:
        mocks = EngineMocks(self.client, self.state_file, self.run_id)
        mocks.delete_unregistered(set())
