"""What `pulumi up` would declare, read from the inputs the docker provider would receive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components import preflight
from components.config import ConfigError, StackConfig, parse_config
from components.names import DeploymentNames
from components.preflight import BuildContextError, HubConfigError
from components.tls import caddyfile
from testkit.program_runner import REPO_ROOT, ProgramRun, Registration, run_program
from tests.unit.echo_mocks import FAKE_TOKEN, ProviderEchoMocks

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"


def hub_uploads(run: ProgramRun) -> dict[str, str]:
    return {u["file"]: u["content"] for u in run.get(CONTAINER, "hub").inputs["uploads"]}


def hub_settings(run: ProgramRun) -> dict:
    return json.loads(hub_uploads(run)["/etc/jupyterhub/settings.json"])


def spawner_traits(run: ProgramRun) -> dict:
    return hub_settings(run)["spawner"]["traitlets"]["DockerSpawner"]


def docker_api_policy(run: ProgramRun) -> dict:
    uploads = {u["file"]: u["content"] for u in run.get(CONTAINER, "docker-api-proxy").inputs["uploads"]}
    return json.loads(uploads["/etc/docker-api-filter/policy.json"])


def parent_name(registration: Registration) -> str:
    return registration.parent.rsplit("::", 1)[-1]


def test_one_component_per_concern_with_children_parented(run_dev: ProgramRun) -> None:
    parents = {(r.type, r.name): parent_name(r) for r in run_dev.registrations.values()}
    assert parents == {
        ("jupyterhub-docker:index:Deployment", "jupyterhub"): "jupyterhub-docker-dev",
        ("jupyterhub-docker:index:Network", "network"): "jupyterhub",
        ("jupyterhub-docker:index:Network", "docker-api-network"): "jupyterhub",
        (NETWORK, "docker-api-network"): "docker-api-network",
        ("jupyterhub-docker:index:HostImage", "base-image"): "jupyterhub",
        (REMOTE_IMAGE, "base-image"): "base-image",
        ("jupyterhub-docker:index:BuiltImage", "proxy-image"): "jupyterhub",
        ("jupyterhub-docker:index:BuiltImage", "hub-image"): "jupyterhub",
        ("jupyterhub-docker:index:BuiltImage", "notebook-image"): "jupyterhub",
        ("jupyterhub-docker:index:BuiltImage", "docker-api-image"): "jupyterhub",
        (IMAGE, "docker-api-image"): "docker-api-image",
        ("random:index/randomPassword:RandomPassword", "proxy-auth-token"): "jupyterhub",
        ("jupyterhub-docker:index:Proxy", "proxy"): "jupyterhub",
        ("jupyterhub-docker:index:Hub", "hub"): "jupyterhub",
        ("jupyterhub-docker:index:DockerApiProxy", "docker-api-proxy"): "jupyterhub",
        (CONTAINER, "docker-api-proxy"): "docker-api-proxy",
        (NETWORK, "network"): "network",
        (IMAGE, "proxy-image"): "proxy-image",
        (IMAGE, "hub-image"): "hub-image",
        (IMAGE, "notebook-image"): "notebook-image",
        (CONTAINER, "proxy"): "proxy",
        (CONTAINER, "hub"): "hub",
        (VOLUME, "hub-data"): "hub",
    }


def dependencies(run: ProgramRun, registration: Registration) -> set[str]:
    names = {r.urn: r.name for r in run.registrations.values()}
    return {names[urn] for urn in registration.dependencies}


def test_the_hub_starts_after_the_proxy_and_the_notebook_image(run_dev: ProgramRun) -> None:
    assert {"proxy", "notebook-image", "hub-image", "network"} <= dependencies(run_dev, run_dev.get(CONTAINER, "hub"))


def test_builds_wait_for_the_base_image_check(run_dev: ProgramRun) -> None:
    assert run_dev.get(REMOTE_IMAGE, "base-image").inputs == {"name": "debian:trixie-slim", "keepLocally": True}
    for image in run_dev.of_type(IMAGE):
        assert dependencies(run_dev, image) == {"base-image"}


def test_a_rollback_image_is_checked_before_the_hub_is_replaced() -> None:
    run = run_program(ProviderEchoMocks(), config={"notebookRollbackImage": "jupyterhub-dev-notebook:0123456789ab"})
    check = run.get(REMOTE_IMAGE, "notebook-rollback-image")
    assert check.inputs == {"name": "jupyterhub-dev-notebook:0123456789ab", "keepLocally": True}
    assert "notebook-rollback-image" in dependencies(run, run.get(CONTAINER, "hub"))
    assert "notebook-rollback-image" in dependencies(run, run.get(CONTAINER, "docker-api-proxy"))


def test_everything_joins_one_user_defined_network_and_only_the_hub_reaches_the_docker_api(run_dev: ProgramRun) -> None:
    assert run_dev.get(NETWORK, "network").inputs == {"name": "jupyterhub-dev", "driver": "bridge"}
    assert run_dev.get(NETWORK, "docker-api-network").inputs == {
        "name": "jupyterhub-dev-docker-api",
        "driver": "bridge",
        "internal": True,
    }
    networks = {c.name: [n["name"] for n in c.inputs["networksAdvanced"]] for c in run_dev.of_type(CONTAINER)}
    assert networks == {
        "proxy": ["jupyterhub-dev"],
        "hub": ["jupyterhub-dev", "jupyterhub-dev-docker-api"],
        "docker-api-proxy": ["jupyterhub-dev-docker-api"],
    }
    assert spawner_traits(run_dev)["network_name"] == "jupyterhub-dev"
    assert docker_api_policy(run_dev)["network"] == "jupyterhub-dev"  # user containers' network


SOCKET_MOUNT = [{"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}]


def test_only_the_docker_api_proxy_gets_the_docker_socket(run_dev: ProgramRun) -> None:
    mounts = {c.name: c.inputs.get("mounts") for c in run_dev.of_type(CONTAINER)}
    assert mounts == {"docker-api-proxy": SOCKET_MOUNT, "hub": None, "proxy": None}
    api_proxy = run_dev.get(CONTAINER, "docker-api-proxy").inputs
    assert "DOCKER_HOST=tcp://jupyterhub-dev-docker-api:2375" in run_dev.get(CONTAINER, "hub").inputs["envs"]
    assert "envs" not in api_proxy and [u["file"] for u in api_proxy["uploads"]] == ["/etc/docker-api-filter/policy.json"]
    assert api_proxy["image"] == run_dev.get(IMAGE, "docker-api-image").inputs["imageName"]
    assert api_proxy["image"].startswith("jupyterhub-dev-docker-api:")
    assert "docker-api-proxy" in dependencies(run_dev, run_dev.get(CONTAINER, "hub"))
    # It allows the notebook image only once that image is built.
    assert {"docker-api-image", "notebook-image"} <= dependencies(run_dev, run_dev.get(CONTAINER, "docker-api-proxy"))


def test_without_the_docker_api_proxy_only_the_hub_gets_the_socket() -> None:
    run = run_program(ProviderEchoMocks(), config={"dockerApiProxy": "false"})
    mounts = {c.name: c.inputs.get("mounts") for c in run.of_type(CONTAINER)}
    assert mounts == {"hub": SOCKET_MOUNT, "proxy": None}
    assert not [env for env in run.get(CONTAINER, "hub").inputs["envs"] if env.startswith("DOCKER_HOST=")]


def test_only_the_proxy_publishes_a_port_and_only_its_public_one(run_dev: ProgramRun) -> None:
    published = {c.name: c.inputs.get("ports") for c in run_dev.of_type(CONTAINER)}
    assert published == {
        "proxy": [{"internal": 8000, "external": 8000, "ip": "127.0.0.1"}],
        "hub": None,
        "docker-api-proxy": None,
    }


PROD_SECRETS = {"backupPassword": "backup-password"}  # Pulumi.prod.yaml turns backups on
# Pulumi.prod.yaml asks for HTTPS by ACME and leaves the name and the e-mail to the operator.
PROD_CONFIG = {"publicHost": "hub.example.org", "tls": json.dumps({"mode": "acme", "acmeEmail": "ops@example.org"})}


def test_a_secret_set_in_plain_text_is_refused_with_the_command_that_encrypts_it() -> None:
    plain = {**PROD_CONFIG, **PROD_SECRETS}  # `pulumi config set backupPassword …` without --secret
    with pytest.raises(ConfigError, match=r"^config 'backupPassword': a secret, set in plain text .* --secret backupPassword"):
        run_program(ProviderEchoMocks(), stack="prod", config=plain)
    run_program(ProviderEchoMocks(), stack="prod", config=PROD_CONFIG, secrets=PROD_SECRETS)


def test_the_prod_stack_as_shipped_asks_for_the_host_name_first() -> None:
    with pytest.raises(ConfigError, match=r"^config 'publicHost' = '': tls.mode acme .* pulumi config set publicHost"):
        run_program(ProviderEchoMocks(), stack="prod", secrets=PROD_SECRETS)


def test_public_address_comes_from_stack_config() -> None:
    run = run_program(ProviderEchoMocks(), config={"publicIp": "0.0.0.0", "publicPort": "8443"})
    assert run.get(CONTAINER, "proxy").inputs["ports"] == [{"internal": 8000, "external": 8443, "ip": "0.0.0.0"}]
    assert run.exports["publicUrl"] == "http://0.0.0.0:8443/"


def test_public_url_uses_the_host_name_users_type() -> None:
    run = run_program(ProviderEchoMocks(), config={"publicHost": "hub.example.org"})
    assert run.exports["publicUrl"] == "http://hub.example.org:8000/"
    assert run.get(CONTAINER, "proxy").inputs["ports"] == [{"internal": 8000, "external": 8000, "ip": "127.0.0.1"}]


PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB-cert\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE-key\n-----END PRIVATE KEY-----\n"


def test_with_acme_the_terminator_alone_publishes_https_and_http_and_keeps_its_certificates() -> None:
    run = run_program(ProviderEchoMocks(), stack="prod", config=PROD_CONFIG, secrets=PROD_SECRETS)
    terminator, proxy = run.get(CONTAINER, "tls"), run.get(CONTAINER, "proxy")
    assert terminator.inputs["ports"] == [
        {"internal": 8443, "external": 443, "ip": "0.0.0.0"},
        {"internal": 8080, "external": 80, "ip": "0.0.0.0"},
    ]
    assert "ports" not in proxy.inputs or proxy.inputs["ports"] == []
    assert "--no-x-forward" in proxy.inputs["command"]
    assert terminator.inputs["volumes"] == [{"volumeName": "jupyterhub-tls-data", "containerPath": "/data"}]
    volume = run.get("docker:index/volume:Volume", "tls-data")
    assert volume.inputs["labels"] == [{"label": "org.jupyterhub-docker.deployment", "value": "jupyterhub"}]
    assert volume.retain_on_delete
    uploads = {u["file"]: u["content"] for u in terminator.inputs["uploads"]}
    stack = {**PROD_CONFIG, "publicPort": "443", "tls": json.loads(PROD_CONFIG["tls"])}
    assert uploads == {"/etc/caddy/Caddyfile": caddyfile(parse_config(stack, {}), DeploymentNames("jupyterhub"))}
    assert terminator.inputs["networksAdvanced"] == [{"name": "jupyterhub", "aliases": ["hub.example.org"]}]
    health = ["CMD", "/usr/local/bin/tls-health", "jupyterhub-tls", "8443", "hub.example.org"]
    assert terminator.inputs["healthcheck"]["tests"] == health
    assert (terminator.inputs["wait"], terminator.inputs["waitTimeout"]) == (True, 120)
    assert terminator.delete_before_replace and "healthcheck" in terminator.replace_on_changes
    assert run.exports["publicUrl"] == "https://hub.example.org/"
    assert run.exports["tlsImage"].startswith("jupyterhub-tls:")
    component = next(r for r in run.registrations.values() if not r.custom and r.type.endswith(":TlsTerminator"))
    assert component.outputs == {"containerName": "jupyterhub-tls", "dataVolumeName": "jupyterhub-tls-data"}


def test_a_private_acme_cas_root_is_uploaded_for_the_terminator_to_trust() -> None:
    root = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n"
    tls = {"mode": "acme", "acmeEmail": "ops@example.org", "acmeDirectory": "https://ca.internal/dir", "acmeCaRoot": root}
    run = run_program(ProviderEchoMocks(), config={"publicHost": "hub.example.org", "tls": json.dumps(tls)})
    uploads = {u["file"]: u["content"] for u in run.get(CONTAINER, "tls").inputs["uploads"]}
    assert uploads["/etc/caddy/acme-ca-root.pem"] == root
    assert "\tacme_ca_root /etc/caddy/acme-ca-root.pem\n" in uploads["/etc/caddy/Caddyfile"]
    public_ca = {"publicHost": "hub.example.org", "tls": json.dumps({**tls, "acmeCaRoot": ""})}
    without = run_program(ProviderEchoMocks(), config=public_ca)
    assert [u["file"] for u in without.get(CONTAINER, "tls").inputs["uploads"]] == ["/etc/caddy/Caddyfile"]


def test_tls_files_are_served_by_the_terminator_as_secrets() -> None:
    run = run_program(
        ProviderEchoMocks(),
        config={"publicPort": "8443", "tls": json.dumps({"mode": "files", "httpPort": 8080})},
        secrets={"tlsCertificate": PEM_CERT, "tlsKey": PEM_KEY},
    )
    terminator = run.get(CONTAINER, "tls")
    assert terminator.inputs["ports"] == [
        {"internal": 8443, "external": 8443, "ip": "127.0.0.1"},
        {"internal": 8080, "external": 8080, "ip": "127.0.0.1"},
    ]
    assert "uploads" in terminator.secret_inputs
    uploads = {u["file"]: u["content"] for u in terminator.inputs["uploads"]}
    assert (uploads["/etc/caddy/tls.crt"], uploads["/etc/caddy/tls.key"]) == (PEM_CERT, PEM_KEY)
    assert PEM_KEY not in uploads["/etc/caddy/Caddyfile"]
    assert terminator.inputs["healthcheck"]["tests"] == ["CMD", "/usr/local/bin/tls-health", "jupyterhub-dev-tls", "8443"]
    assert run.exports["publicUrl"] == "https://localhost:8443/"
    assert all(PEM_KEY not in str(value) for value in run.exports.values())


def test_without_tls_the_proxy_serves_plain_http_and_there_is_no_terminator(run_dev: ProgramRun) -> None:
    command = run_dev.get(CONTAINER, "proxy").inputs["command"]
    assert not [flag for flag in command if flag.startswith(("--ssl", "--redirect", "--no-x-forward"))]
    assert "tls" not in {c.name for c in run_dev.of_type(CONTAINER)}


def test_proxy_routes_to_the_hub_and_its_error_page(run_dev: ProgramRun) -> None:
    command = run_dev.get(CONTAINER, "proxy").inputs["command"]
    assert "--default-target=http://jupyterhub-dev-hub:8081" in command
    assert "--error-target=http://jupyterhub-dev-hub:8081/hub/error" in command
    assert "--api-port=8001" in command
    assert hub_settings(run_dev)["hub"]["proxyApiUrl"] == "http://jupyterhub-dev-proxy:8001"
    assert hub_settings(run_dev)["hub"]["connectIp"] == "jupyterhub-dev-hub"


def test_a_lost_name_lookup_in_the_proxy_is_asked_again_after_a_second(run_dev: ProgramRun) -> None:
    assert run_dev.get(CONTAINER, "proxy").inputs["dnsOpts"] == ["timeout:1"]


def test_proxy_and_hub_share_the_token_as_a_secret(run_dev: ProgramRun) -> None:
    proxy, hub = run_dev.get(CONTAINER, "proxy"), run_dev.get(CONTAINER, "hub")
    assert "envs" in proxy.secret_inputs and "envs" in hub.secret_inputs
    expected = f"CONFIGPROXY_AUTH_TOKEN={FAKE_TOKEN}"
    assert expected in proxy.inputs["envs"] and expected in hub.inputs["envs"]


@pytest.mark.parametrize(
    ("auth", "secret_key", "env"),
    [
        ({"type": "shared-password"}, "sharedPassword", "SHARED_PASSWORD"),
        (
            {
                "type": "github",
                "oauthClientId": "id",
                "oauthCallbackUrl": "http://localhost:8000/hub/oauth_callback",
                "allowAll": True,
            },
            "oauthClientSecret",
            "OAUTH_CLIENT_SECRET",
        ),
        (
            {
                "type": "generic-oauth",
                "oauthClientId": "id",
                "oauthCallbackUrl": "http://localhost:8000/hub/oauth_callback",
                "oauthAuthorizeUrl": "https://idp/a",
                "oauthTokenUrl": "https://idp/t",
                "oauthUserdataUrl": "https://idp/u",
                "allowAll": True,
            },
            "oauthClientSecret",
            "OAUTH_CLIENT_SECRET",
        ),
    ],
)
def test_auth_secrets_reach_the_hub_only_as_secret_environment(auth: dict, secret_key: str, env: str) -> None:
    run = run_program(ProviderEchoMocks(), config={"auth": json.dumps(auth)}, secrets={secret_key: "s3cret-value"})
    hub = run.get(CONTAINER, "hub")
    assert f"{env}=s3cret-value" in hub.inputs["envs"] and "envs" in hub.secret_inputs
    assert all("s3cret-value" not in upload["content"] for upload in hub.inputs["uploads"])
    assert not [e for e in run.get(CONTAINER, "proxy").inputs["envs"] if e.startswith(env)]


def test_the_hub_gets_the_settings_the_preview_load_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[dict] = []
    monkeypatch.setattr(preflight, "check_hub_config_loads", lambda files, settings, envs: checked.append(settings))
    run = run_program(ProviderEchoMocks(), config={"metrics": json.dumps({"enabled": True}), "culler": json.dumps({})})
    hub = run.get(CONTAINER, "hub")
    uploaded = next(json.loads(u["content"]) for u in hub.inputs["uploads"] if u["file"].endswith("settings.json"))
    assert checked == [uploaded]


INSTITUTION_LOGINS = [
    (
        {"type": "oidc", "oidcIssuer": "https://id.example.org", "oauthClientId": "hub", "allowAll": True},
        "oauthClientSecret",
        "OAUTH_CLIENT_SECRET",
    ),
    (
        {"type": "ldap", "ldapUrl": "ldaps://ad.example.org", "ldapSearchBase": "dc=x", "ldapSearchUser": "cn=r,dc=x",
         "allowAll": True},
        "ldapSearchPassword",
        "LDAP_SEARCH_PASSWORD",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("auth", "secret_key", "env"), INSTITUTION_LOGINS)
def test_institution_login_secrets_reach_the_hub_only_as_secret_environment(
    monkeypatch: pytest.MonkeyPatch, auth: dict, secret_key: str, env: str
) -> None:
    asked: list[str] = []
    endpoints = {"authorization_endpoint": "https://id.example.org/a", "token_endpoint": "https://id.example.org/t",
                 "userinfo_endpoint": "https://id.example.org/u", "end_session_endpoint": ""}  # fmt: skip

    def discovered(config: StackConfig) -> dict[str, str]:
        asked.append(config.auth.type)
        return endpoints if config.auth.type == "oidc" else {}

    monkeypatch.setattr(preflight, "oidc_endpoints", discovered)
    monkeypatch.setattr(preflight, "check_ldap_server", lambda config: asked.append(f"check {config.auth.type}"))
    run = run_program(ProviderEchoMocks(), config={"auth": json.dumps(auth)}, secrets={secret_key: "s3cret-value"})
    hub = run.get(CONTAINER, "hub")
    assert f"{env}=s3cret-value" in hub.inputs["envs"] and "envs" in hub.secret_inputs
    assert all("s3cret-value" not in upload["content"] for upload in hub.inputs["uploads"])
    settings = next(json.loads(u["content"]) for u in hub.inputs["uploads"] if u["file"].endswith("settings.json"))
    assert settings["auth"]["oidcEndpoints"] == (endpoints if auth["type"] == "oidc" else {})
    assert asked == [f"check {auth['type']}", auth["type"]]  # asked once, in the preflight


def test_no_secret_in_the_hub_config_uploads(run_dev: ProgramRun) -> None:
    hub = run_dev.get(CONTAINER, "hub")
    assert "uploads" not in hub.secret_inputs
    assert all(FAKE_TOKEN not in upload["content"] for upload in hub.inputs["uploads"])


def test_fixed_name_containers_are_deleted_before_replacement(run_dev: ProgramRun) -> None:
    for container in run_dev.of_type(CONTAINER):
        assert container.inputs["name"].startswith("jupyterhub-dev-")
        assert container.delete_before_replace, container.name


def test_hub_data_volume_outlives_the_hub_container_and_the_stack(run_dev: ProgramRun) -> None:
    volume = run_dev.get(VOLUME, "hub-data")
    assert volume.retain_on_delete
    assert run_dev.get(CONTAINER, "hub").inputs["volumes"] == [
        {"volumeName": "jupyterhub-dev-hub-data", "containerPath": "/srv/jupyterhub"}
    ]


def test_hub_runs_with_restart_policy_and_upgrades_its_db(run_dev: ProgramRun) -> None:
    for container in run_dev.of_type(CONTAINER):
        assert container.inputs["restart"] == "unless-stopped"
    assert run_dev.get(CONTAINER, "hub").inputs["command"][-1] == "--upgrade-db"


def test_containers_run_the_images_built_here(run_dev: ProgramRun) -> None:
    assert run_dev.get(CONTAINER, "hub").inputs["image"] == run_dev.exports["hubImage"]
    assert run_dev.get(CONTAINER, "proxy").inputs["image"].startswith("jupyterhub-dev-proxy:")
    for image in run_dev.of_type(IMAGE):
        assert image.inputs["skipPush"] is True
        assert image.inputs["build"]["args"]["BASE_IMAGE"] == "debian:trixie-slim"


def test_extra_ca_certificates_reach_every_build_that_downloads_over_tls(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "corp.crt").write_text(pem)
    run = run_program(ProviderEchoMocks(), config={"build": json.dumps({"extraCaCertsPath": str(tmp_path)})})
    args = {image.name: image.inputs["build"]["args"] for image in run.of_type(IMAGE)}
    assert {name: a["EXTRA_CA_CERTS"] for name, a in args.items() if name != "docker-api-image"} == {
        "proxy-image": pem,
        "hub-image": pem,
        "notebook-image": pem,
    }
    # The filter's image installs Debian's python3 and nothing from PyPI or npm.
    assert args["docker-api-image"] == {"BASE_IMAGE": "debian:trixie-slim", "DEPLOYMENT": "jupyterhub-dev"}


def test_editing_the_hub_config_replaces_only_the_hub(project_copy: Path) -> None:
    before = run_program(ProviderEchoMocks(), project_dir=project_copy)
    config_file = project_copy / "hub_config" / "jupyterhub_config.py"
    config_file.write_text(config_file.read_text() + "\nc.JupyterHub.shutdown_on_logout = True\n")
    after = run_program(ProviderEchoMocks(), project_dir=project_copy)

    assert before.get(CONTAINER, "hub").inputs["uploads"] != after.get(CONTAINER, "hub").inputs["uploads"]
    for type_, name in ((CONTAINER, "proxy"), (NETWORK, "network"), (IMAGE, "hub-image"), (IMAGE, "notebook-image")):
        assert before.get(type_, name).inputs == after.get(type_, name).inputs, name


def test_editing_the_notebook_dockerfile_rolls_the_image_for_new_servers_only(project_copy: Path) -> None:
    before = run_program(ProviderEchoMocks(), project_dir=project_copy)
    dockerfile = project_copy / "build.notebook" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo one more layer\n")
    after = run_program(ProviderEchoMocks(), project_dir=project_copy)

    old_ref, new_ref = before.exports["notebookImage"], after.exports["notebookImage"]
    assert old_ref != new_ref
    assert after.get(IMAGE, "notebook-image").inputs["imageName"] == new_ref
    assert spawner_traits(before)["image"] == old_ref
    assert spawner_traits(after)["image"] == new_ref
    assert before.get(CONTAINER, "proxy").inputs == after.get(CONTAINER, "proxy").inputs
    assert before.get(NETWORK, "network").inputs == after.get(NETWORK, "network").inputs


def test_rollback_setting_points_new_servers_at_the_previous_image(run_dev: ProgramRun) -> None:
    previous = "jupyterhub-dev-notebook:0123456789ab"
    run = run_program(ProviderEchoMocks(), config={"notebookRollbackImage": previous})
    assert spawner_traits(run)["image"] == previous
    assert run.exports["notebookImageInUse"] == previous
    assert run.exports["notebookImage"] == run_dev.exports["notebookImage"]


PROFILES = [{"name": "small", "memLimit": "512M", "cpuLimit": 0.5}, {"name": "gpu", "image": "lab-gpu:1", "groups": ["ml"]}]


def test_profiles_offer_a_choice_of_images_and_sizes(run_dev: ProgramRun) -> None:
    run = run_program(ProviderEchoMocks(), config={"spawner": json.dumps({"profiles": PROFILES})})
    offered = [(p["name"], p["image"], p["mem_limit"], p["cpu_limit"], p["groups"]) for p in spawner_traits(run)["profiles"]]
    built = run_dev.exports["notebookImage"]
    assert offered == [("small", built, 512 * 1024**2, 0.5, []), ("gpu", "lab-gpu:1", 2 * 1024**3, 1.0, ["ml"])]


def test_a_profiles_image_is_checked_on_the_host_before_the_hub_is_replaced() -> None:
    run = run_program(ProviderEchoMocks(), config={"spawner": json.dumps({"profiles": PROFILES})})
    check = run.get(REMOTE_IMAGE, "image-gpu")
    assert check.inputs == {"name": "lab-gpu:1", "keepLocally": True}
    assert "image-gpu" in dependencies(run, run.get(CONTAINER, "hub"))
    assert "image-gpu" in dependencies(run, run.get(CONTAINER, "docker-api-proxy"))


def test_a_stack_still_setting_extra_images_is_refused_with_the_profiles_to_set() -> None:
    with pytest.raises(
        Exception, match=r"spawner.extraImages': replaced by spawner.profiles.*'spawner.profiles\[1\].image' lab-gpu:1"
    ):
        run_program(ProviderEchoMocks(), config={"spawner": json.dumps({"extraImages": {"gpu": "lab-gpu:1"}})})


def test_user_containers_are_named_for_their_user(run_dev: ProgramRun) -> None:
    spawner = spawner_traits(run_dev)
    assert spawner["name_template"] == "jupyter-jupyterhub-dev_{username}"
    assert spawner["volumes"] == {"jupyterhub-dev-home-{username}": "/home/jovyan"}
    assert (spawner["mem_limit"], spawner["cpu_limit"]) == ("1G", 1.0)


def test_a_hub_config_that_does_not_compile_fails_before_anything_is_declared(project_copy: Path) -> None:
    (project_copy / "hub_config" / "jupyterhub_config.py").write_text("c.JupyterHub.port = (\n")
    with pytest.raises(HubConfigError, match=r"jupyterhub_config.py line 1: .*running hub is left as it is"):
        run_program(ProviderEchoMocks(), project_dir=project_copy)


def test_a_hub_config_that_raises_on_load_fails_before_anything_is_declared(project_copy: Path) -> None:
    config_file = project_copy / "hub_config" / "jupyterhub_config.py"
    config_file.write_text(config_file.read_text().replace('hub["proxyApiUrl"]', 'hub["proxyUrl"]'))
    with pytest.raises(HubConfigError, match=r"raised KeyError: 'proxyUrl' when loaded with this stack's settings"):
        run_program(ProviderEchoMocks(), project_dir=project_copy)


def test_a_hub_config_reading_a_secret_the_hub_does_not_get_is_refused(project_copy: Path) -> None:
    config_file = project_copy / "hub_config" / "jupyterhub_config.py"
    config_file.write_text(config_file.read_text() + '\nget_config().Spawner.environment = {"KEY": os.environ["API_KEY"]}\n')
    with pytest.raises(HubConfigError, match="raised KeyError: 'API_KEY'"):
        run_program(ProviderEchoMocks(), project_dir=project_copy)


def test_operator_additions_to_the_hub_config_pass_the_check(project_copy: Path) -> None:
    config_file = project_copy / "hub_config" / "jupyterhub_config.py"
    config_file.write_text(
        config_file.read_text() + "\nc = get_config()\nc.Spawner.default_url = '/lab'\nc.Spawner.environment.update({'A': '1'})\n"
    )
    run = run_program(ProviderEchoMocks(), project_dir=project_copy)
    assert "c.Spawner.default_url" in hub_uploads(run)["/etc/jupyterhub/jupyterhub_config.py"]


def test_a_missing_dockerfile_fails_with_the_fix(project_copy: Path) -> None:
    (project_copy / "build.notebook" / "Dockerfile").unlink()
    with pytest.raises(BuildContextError, match=r"build.notebook/Dockerfile is missing.*git checkout"):
        run_program(ProviderEchoMocks(), project_dir=project_copy)


def test_the_docker_api_filter_allows_exactly_the_images_and_limits_the_hub_may_use(run_dev: ProgramRun) -> None:
    assert docker_api_policy(run_dev) == {
        "deployment": "jupyterhub-dev",
        "deploymentLabel": "org.jupyterhub-docker.deployment",
        "network": "jupyterhub-dev",
        "userContainerTemplate": "jupyter-jupyterhub-dev_{username}",
        "homeVolumeTemplate": "jupyterhub-dev-home-{username}",
        "notebookHome": "/home/jovyan",
        "notebookUser": "1000",
        "notebookPort": 8888,
        "images": [run_dev.exports["notebookImage"]],
        # Pulumi.dev.yaml: 1G, 1 CPU
        "shapes": [
            {
                "image": run_dev.exports["notebookImage"],
                "memoryBytes": 1024**3,
                "cpuQuota": 100_000,
                "nanoCpus": 10**9,
                "constraints": [],
                "gpus": 0,
                "gpuIds": [],
            }
        ],
        "cpuPeriod": 100_000,
        "maxPids": 4096,
        "maxServers": 200,
        "serversPerUser": 1,
        "sharedVolumes": [],
        "logConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
        "swarm": {},
    }
    spawner = spawner_traits(run_dev)
    assert spawner["name_template"] == "jupyter-jupyterhub-dev_{username}"
    assert spawner["volumes"] == {"jupyterhub-dev-home-{username}": "/home/jovyan"}
    assert (spawner["notebook_dir"], spawner["port"]) == ("/home/jovyan", 8888)


def test_a_rollback_profiles_and_new_limits_are_a_diff_on_the_filter() -> None:
    rollback = "jupyterhub-dev-notebook:0123456789ab"
    run = run_program(
        ProviderEchoMocks(),
        config={
            "notebookRollbackImage": rollback,
            "spawner": json.dumps({"profiles": PROFILES, "memLimit": "2G", "cpuLimit": 0.25, "pidsLimit": 512}),
        },
    )
    policy = docker_api_policy(run)
    assert policy["images"] == [rollback, "lab-gpu:1"]
    assert policy["shapes"] == [  # each profile's, exactly; the spawner's own limits only where a profile inherits them
        {
            "cpuQuota": 25_000,
            "image": "lab-gpu:1",
            "memoryBytes": 2 * 1024**3,
            "nanoCpus": 250_000_000,
            "constraints": [],
            "gpus": 0,
            "gpuIds": [],
        },
        {
            "cpuQuota": 50_000,
            "image": rollback,
            "memoryBytes": 512 * 1024**2,
            "nanoCpus": 500_000_000,
            "constraints": [],
            "gpus": 0,
            "gpuIds": [],
        },
    ]
    assert policy["maxPids"] == 512 and spawner_traits(run)["extra_host_config"]["pids_limit"] == 512


def test_proxy_hub_and_filter_run_without_capabilities_or_a_way_to_gain_privileges(run_dev: ProgramRun) -> None:
    for container in run_dev.of_type(CONTAINER):
        assert container.inputs["capabilities"] == {"drops": ["ALL"]}, container.name
        assert container.inputs["securityOpts"] == ["no-new-privileges"], container.name


HEALTH = {"interval": "10s", "timeout": "5s", "retries": 3.0}


def test_a_rollout_waits_until_each_new_container_is_healthy(run_dev: ProgramRun) -> None:
    """The provider waits only with wait=true, and then for the healthcheck; a changed
    healthcheck is not applied in place, so it replaces the container."""
    gates = {
        c.name: (c.inputs["healthcheck"], c.inputs["wait"], c.inputs["waitTimeout"], c.replace_on_changes)
        for c in run_dev.of_type(CONTAINER)
    }
    hub_test = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/hub/health', timeout=4)"
    proxy_test = (
        "require('net').connect(8000, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))"
    )
    filter_test = "import socket; socket.create_connection(('127.0.0.1', 2375), timeout=4).close()"
    assert gates == {
        "hub": ({"tests": ["CMD", "python3", "-c", hub_test], **HEALTH}, True, 60.0, ["healthcheck"]),
        "proxy": ({"tests": ["CMD", "/usr/bin/node", "-e", proxy_test], **HEALTH}, True, 30.0, ["healthcheck"]),
        "docker-api-proxy": ({"tests": ["CMD", "python3", "-c", filter_test], **HEALTH}, True, 30.0, ["healthcheck"]),
    }


def test_the_hub_gets_time_to_stop_cleanly_when_it_is_replaced(run_dev: ProgramRun) -> None:
    grace = {c.name: c.inputs.get("destroyGraceSeconds") for c in run_dev.of_type(CONTAINER)}
    assert grace == {"hub": 10.0, "proxy": None, "docker-api-proxy": None}


def test_every_update_refreshes_first_so_hand_removed_containers_come_back() -> None:
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    assert project["options"] == {"refresh": "always"}


@pytest.mark.parametrize("key", ["publcPort", "spawners", "tlskey", "dockerApiproxy"])
def test_a_misspelt_top_level_key_stops_the_program_naming_it(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"config '{key}': not a setting of this program .* Fix: pulumi config rm {key}"):
        run_program(ProviderEchoMocks(), config={key: "9000"})


def test_every_known_top_level_key_is_accepted() -> None:
    run = run_program(ProviderEchoMocks(), config={"publicPort": "9000", "dockerApiProxy": "true"})
    assert run.exports["publicUrl"] == "http://localhost:9000/"


def test_the_hub_container_in_full(run_dev: ProgramRun) -> None:
    hub = dict(run_dev.get(CONTAINER, "hub").inputs)
    uploads = [upload["file"] for upload in hub.pop("uploads")]
    assert uploads == ["/etc/jupyterhub/jupyterhub_config.py", "/etc/jupyterhub/settings.json"]
    assert hub == {
        "name": "jupyterhub-dev-hub",
        "image": run_dev.exports["hubImage"],
        "command": ["jupyterhub", "-f", "/etc/jupyterhub/jupyterhub_config.py", "--upgrade-db"],
        "envs": [
            f"CONFIGPROXY_AUTH_TOKEN={FAKE_TOKEN}",
            "JUPYTERHUB_DOCKER_SETTINGS=/etc/jupyterhub/settings.json",
            "DOCKER_HOST=tcp://jupyterhub-dev-docker-api:2375",
        ],
        "volumes": [{"volumeName": "jupyterhub-dev-hub-data", "containerPath": "/srv/jupyterhub"}],
        "networksAdvanced": [{"name": "jupyterhub-dev"}, {"name": "jupyterhub-dev-docker-api"}],
        "labels": [{"label": "org.jupyterhub-docker.deployment", "value": "jupyterhub-dev"}],
        "logDriver": "json-file",
        "logOpts": {"max-size": "10m", "max-file": "3"},
        "restart": "unless-stopped",
        "capabilities": {"drops": ["ALL"]},
        "securityOpts": ["no-new-privileges"],
        "healthcheck": {
            "tests": [
                "CMD",
                "python3",
                "-c",
                "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/hub/health', timeout=4)",
            ],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
        },
        "wait": True,
        "waitTimeout": 60,
        "destroyGraceSeconds": 10,
    }
    assert run_dev.get(VOLUME, "hub-data").inputs == {
        "name": "jupyterhub-dev-hub-data",
        "labels": [{"label": "org.jupyterhub-docker.deployment", "value": "jupyterhub-dev"}],
    }


def test_the_settings_upload_is_the_settings_as_sorted_json(run_dev: ProgramRun) -> None:
    text = hub_uploads(run_dev)["/etc/jupyterhub/settings.json"]
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_each_build_gets_exactly_its_build_args(tmp_path: Path) -> None:
    (tmp_path / "corp.crt").write_text("PEM\n")
    build = {
        "baseImage": "base.example/debian:13",
        "extraCaCertsPath": str(tmp_path),
        "pipIndexUrl": "https://pypi.mirror/simple",
        "npmRegistry": "https://npm.mirror/",
    }
    run = run_program(ProviderEchoMocks(), config={"build": json.dumps(build)})
    common = {"BASE_IMAGE": "base.example/debian:13", "EXTRA_CA_CERTS": "PEM\n", "DEPLOYMENT": "jupyterhub-dev"}
    builds = {image.name: image.inputs for image in run.of_type(IMAGE)}
    expected_args = {
        "proxy-image": {**common, "NPM_CONFIG_REGISTRY": "https://npm.mirror/"},
        "hub-image": {**common, "PIP_INDEX_URL": "https://pypi.mirror/simple"},
        "notebook-image": {**common, "PIP_INDEX_URL": "https://pypi.mirror/simple"},
        "docker-api-image": {"BASE_IMAGE": "base.example/debian:13", "DEPLOYMENT": "jupyterhub-dev"},
    }
    contexts = {"proxy-image": "build.proxy", "hub-image": "hub_config", "notebook-image": "build.notebook"}
    contexts["docker-api-image"] = "docker_api_proxy"
    for name, inputs in builds.items():
        repository = name.removesuffix("-image")
        assert inputs["imageName"].startswith(f"jupyterhub-dev-{repository}:"), name
        assert inputs["skipPush"] is True
        assert inputs["build"] == {
            "context": contexts[name],
            "dockerfile": f"{contexts[name]}/Dockerfile",
            "args": expected_args[name],
            "platform": "linux/amd64",
        }
    assert run.get(REMOTE_IMAGE, "base-image").inputs == {"name": "base.example/debian:13", "keepLocally": True}


@pytest.mark.parametrize(
    ("build", "changed"),
    [
        # A mirror serves the locked hashes: the same images, so the same tags.
        ({"pipIndexUrl": "https://pypi.mirror/simple"}, set()),
        ({"npmRegistry": "https://npm.mirror/"}, set()),
        ({"baseImage": "debian:13"}, {"hub-image", "notebook-image", "proxy-image", "docker-api-image"}),
        ({"extraCaCertsPath": ""}, {"hub-image", "notebook-image", "proxy-image"}),
    ],
)
def test_a_build_arg_change_gives_new_tags_to_exactly_the_images_it_reaches(
    run_dev: ProgramRun, build: dict, changed: set[str]
) -> None:
    run = run_program(ProviderEchoMocks(), config={"build": json.dumps({**dev_build(), **build})})
    tags = {image.name: image.inputs["imageName"] for image in run.of_type(IMAGE)}
    before = {image.name: image.inputs["imageName"] for image in run_dev.of_type(IMAGE)}
    assert {name for name in tags if tags[name] != before[name]} == changed


def dev_build() -> dict:
    stack = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())["config"]
    return dict(stack.get("jupyterhub-docker:build", {}))


def test_the_public_port_is_checked_before_the_proxy_is_declared(monkeypatch: pytest.MonkeyPatch) -> None:

    calls: list[tuple] = []
    monkeypatch.setattr(preflight, "check_public_port", lambda *args, **named: calls.append((*args, *named.values())))
    run_program(ProviderEchoMocks())
    assert calls == [("127.0.0.1", 8000, ("jupyterhub-dev-proxy",), "jupyterhub-dev-tls")]
    calls.clear()
    run_program(ProviderEchoMocks(), stack="prod", config=PROD_CONFIG, secrets=PROD_SECRETS)
    ours = ("jupyterhub-proxy", "jupyterhub-tls")
    assert calls == [("0.0.0.0", 443, ours), ("0.0.0.0", 80, ours, "tls.httpPort")]


def test_a_refused_public_port_stops_the_program_before_any_container(monkeypatch: pytest.MonkeyPatch) -> None:

    def refuse(*args: object, **named: object) -> None:
        raise ConfigError("config 'publicPort' = 8000: already in use")

    monkeypatch.setattr(preflight, "check_public_port", refuse)
    with pytest.raises(Exception, match="already in use"):
        run_program(ProviderEchoMocks())


def test_a_section_that_is_not_an_object_stops_the_program() -> None:
    expected = r"^config 'spawner' = 'memLimit: 2G': not a YAML object \(.*\)\. "
    expected += r"Fix: see the 'spawner\.\*' keys in docs/reference/config\.md"
    with pytest.raises(ConfigError, match=expected):
        run_program(ProviderEchoMocks(), config={"spawner": "memLimit: 2G"})


def test_every_top_level_setting_and_secret_is_read_from_the_stack() -> None:
    run = run_program(
        ProviderEchoMocks(),
        stack="prod",
        config={
            "name": "physics",
            "publicIp": "127.0.0.1",
            "publicHost": "hub.example.org",
            "publicPort": "443",
            "tls": json.dumps({"mode": "files", "httpPort": 80}),
            "notebookRollbackImage": "physics-notebook:0123456789ab",
            "dockerApiProxy": "false",
            "auth": json.dumps({"type": "shared-password"}),
            "culler": json.dumps({"enabled": False}),
        },
        secrets={
            "tlsCertificate": PEM_CERT,
            "tlsKey": PEM_KEY,
            "sharedPassword": "pw",
            "backupPassword": "bp",
            "backupCredentials": "A=1",
        },
    )
    assert run.exports["publicUrl"] == "https://hub.example.org/"
    assert run.exports["notebookImageInUse"] == "physics-notebook:0123456789ab"
    names = {"physics-proxy", "physics-hub", "physics-backup", "physics-tls"}
    assert {c.inputs["name"] for c in run.of_type(CONTAINER)} == names
    assert run.get(CONTAINER, "backup").inputs["envs"][:2] == ["RESTIC_PASSWORD=bp", "A=1"]
    assert run.get(CONTAINER, "tls").inputs["ports"][1] == {"internal": 8080, "external": 80, "ip": "127.0.0.1"}
    assert "SHARED_PASSWORD=pw" in run.get(CONTAINER, "hub").inputs["envs"]
    assert hub_settings(run)["services"] == {}


def test_each_component_registers_its_outputs(run_dev: ProgramRun) -> None:
    components = {(r.type.rsplit(":", 1)[-1], r.name): r.outputs for r in run_dev.registrations.values() if not r.custom}
    images = {role: run_dev.exports[f"{role}Image"] for role in ("proxy", "hub", "notebook")}
    images["docker-api"] = run_dev.exports["dockerApiImage"]
    assert components[("Deployment", "jupyterhub")] == {
        "publicUrl": "http://localhost:8000/",
        "networkName": "jupyterhub-dev",
        "proxyContainer": "jupyterhub-dev-proxy",
        "hubContainer": "jupyterhub-dev-hub",
        "images": images,
        "notebookImageInUse": images["notebook"],
    }
    assert components[("Hub", "hub")] == {"containerName": "jupyterhub-dev-hub", "dataVolumeName": "jupyterhub-dev-hub-data"}
    assert components[("Proxy", "proxy")] == {"containerName": "jupyterhub-dev-proxy"}
    assert components[("DockerApiProxy", "docker-api-proxy")] == {"containerName": "jupyterhub-dev-docker-api"}
    assert components[("Network", "network")] == {"name": "jupyterhub-dev"}
    assert components[("Network", "docker-api-network")] == {"name": "jupyterhub-dev-docker-api"}
    for role, ref in images.items():
        outputs = components[("BuiltImage", f"{role}-image")]
        assert outputs["ref"] == ref and outputs["imageId"].startswith("sha256:")
    assert components[("HostImage", "base-image")]["imageId"].startswith("sha256:")


def test_the_proxy_token_is_48_letters_and_digits(run_dev: ProgramRun) -> None:
    assert run_dev.get("random:index/randomPassword:RandomPassword", "proxy-auth-token").inputs == {
        "length": 48,
        "special": False,
    }


def test_the_pre_flight_loads_the_hub_config_with_the_settings_the_hub_gets(monkeypatch: pytest.MonkeyPatch) -> None:

    checked: list[tuple] = []
    monkeypatch.setattr(preflight, "check_hub_config_loads", lambda *args: checked.append(args))
    run = run_program(
        ProviderEchoMocks(), config={"auth": json.dumps({"type": "github", **GITHUB_AUTH})}, secrets={"oauthClientSecret": "s"}
    )
    [(files, settings, secret_env_names)] = checked
    assert files == {
        upload["file"]: upload["content"]
        for upload in run.get(CONTAINER, "hub").inputs["uploads"]
        if upload["file"].endswith(".py")
    }
    assert settings == hub_settings(run)
    assert secret_env_names == ["CONFIGPROXY_AUTH_TOKEN", "OAUTH_CLIENT_SECRET"]


GITHUB_AUTH = {"oauthClientId": "id", "oauthCallbackUrl": "http://localhost:8000/hub/oauth_callback", "allowAll": True}


def test_an_adopted_home_volume_scheme_reaches_the_spawner_and_the_filter_alone() -> None:
    run = run_program(ProviderEchoMocks(), config={"spawner": json.dumps({"homeVolumeTemplate": "jupyterhub-user-{username}"})})
    assert spawner_traits(run)["volumes"] == {"jupyterhub-user-{username}": "/home/jovyan"}
    assert docker_api_policy(run)["homeVolumeTemplate"] == "jupyterhub-user-{username}"
    hub = run.get(CONTAINER, "hub").inputs
    assert [v["volumeName"] for v in hub["volumes"]] == ["jupyterhub-dev-hub-data"]


@pytest.mark.parametrize(
    ("logs", "driver", "options"),
    [
        ({}, "json-file", {"max-size": "10m", "max-file": "3"}),
        ({"driver": "local", "maxSizeMb": 50, "maxFiles": 5}, "local", {"max-size": "50m", "max-file": "5"}),
        ({"driver": "journald"}, "journald", None),
    ],
)
def test_every_container_and_every_user_server_logs_with_the_bounded_driver(
    logs: dict[str, object], driver: str, options: dict[str, str] | None
) -> None:
    run = run_program(ProviderEchoMocks(), config={"logs": json.dumps(logs)})
    containers = run.of_type(CONTAINER)
    assert {c.name for c in containers} == {"proxy", "hub", "docker-api-proxy"}
    for container in containers:
        assert (container.inputs["logDriver"], container.inputs.get("logOpts")) == (driver, options), container.name
    assert spawner_traits(run)["extra_host_config"]["log_config"] == {"type": driver, "config": options or {}}
    assert docker_api_policy(run)["logConfig"] == {"Type": driver, "Config": options or {}}


SHARED = {
    "spawner": json.dumps(
        {
            "sharedVolumes": [
                {"name": "course"},
                {"name": "team-a", "mode": "rw", "mountPath": "/srv/team", "groups": ["team-a"]},
            ]
        }
    )
}


def test_shared_volumes_are_kept_volumes_whose_folders_a_one_off_container_owns_before_the_hub_starts() -> None:
    run = run_program(ProviderEchoMocks(), config=SHARED)
    labels = [{"label": "org.jupyterhub-docker.deployment", "value": "jupyterhub-dev"}]
    for name in ("jupyterhub-dev-shared-course", "jupyterhub-dev-shared-team-a"):
        volume = run.get(VOLUME, f"shared-volume-{name}")
        assert volume.inputs == {"name": name, "labels": labels} and volume.retain_on_delete
    owner = run.get(CONTAINER, "shared-volumes-owner")
    assert owner.inputs == {
        "name": "jupyterhub-dev-shared-volumes-owner",
        "image": owner.inputs["image"],
        "user": "0",
        "command": [
            "sh",
            "-c",
            "chmod 0755 /shared/jupyterhub-dev-shared-course && chown 0:0 /shared/jupyterhub-dev-shared-course && "
            "chmod 0775 /shared/jupyterhub-dev-shared-team-a && chown 1000:1000 /shared/jupyterhub-dev-shared-team-a",
        ],
        "volumes": [
            {"volumeName": "jupyterhub-dev-shared-course", "containerPath": "/shared/jupyterhub-dev-shared-course"},
            {"volumeName": "jupyterhub-dev-shared-team-a", "containerPath": "/shared/jupyterhub-dev-shared-team-a"},
        ],
        "networkMode": "none",
        "mustRun": False,
        "attach": True,
        "labels": labels,
        "logDriver": "json-file",
        "logOpts": {"max-file": "3", "max-size": "10m"},
        "capabilities": {"adds": ["CHOWN"], "drops": ["ALL"]},
        "securityOpts": ["no-new-privileges"],
    }
    assert dependencies(run, owner) >= {"base-image", "shared-volume-jupyterhub-dev-shared-course"}
    # Its name is fixed: the old one goes before the new one runs; both are the component's.
    assert owner.delete_before_replace and parent_name(owner) == "shared-volumes"
    assert {parent_name(run.get(VOLUME, f"shared-volume-{name}")) for name in ("jupyterhub-dev-shared-course",)} == {
        "shared-volumes"
    }
    assert "shared-volumes-owner" in dependencies(run, run.get(CONTAINER, "hub"))


def test_shared_volumes_reach_the_hub_with_their_groups_and_the_filter_with_their_modes() -> None:
    run = run_program(ProviderEchoMocks(), config=SHARED)
    assert spawner_traits(run)["shared_volumes"] == [
        {"volume": "jupyterhub-dev-shared-course", "path": "/home/jovyan/course", "mode": "ro", "groups": []},
        {"volume": "jupyterhub-dev-shared-team-a", "path": "/srv/team", "mode": "rw", "groups": ["team-a"]},
    ]
    assert docker_api_policy(run)["sharedVolumes"] == [
        {"volume": "jupyterhub-dev-shared-course", "path": "/home/jovyan/course", "readOnly": True},
        {"volume": "jupyterhub-dev-shared-team-a", "path": "/srv/team", "readOnly": False},
    ]


def test_without_shared_volumes_there_is_no_owner_container(run_dev: ProgramRun) -> None:
    assert not [c for c in run_dev.of_type(CONTAINER) if c.name == "shared-volumes-owner"]
    assert spawner_traits(run_dev)["shared_volumes"] == [] and docker_api_policy(run_dev)["sharedVolumes"] == []


def test_gpu_profiles_reach_the_hub_with_their_gpus_and_host_and_the_filter_with_the_gpus_they_may_take() -> None:
    spawner = {
        "gpuDevices": ["0", "GPU-8a2c"],
        "profiles": [{"name": "cpu"}, {"name": "gpu", "gpus": 1, "memLimit": "8G"}, {"name": "demo", "gpuIds": "GPU-8a2c"}],
    }
    run = run_program(ProviderEchoMocks(), config={"spawner": json.dumps(spawner)})
    traits = spawner_traits(run)
    assert traits["gpu_host"] == "gpu-host-1"  # the engine's name (preflight asks it)
    offered = {p["name"]: (p["gpus"], p["gpu_ids"], p["gpus_shared"]) for p in traits["profiles"]}
    assert offered == {"cpu": (0, [], False), "gpu": (1, ["0", "GPU-8a2c"], False), "demo": (1, ["GPU-8a2c"], True)}
    shapes = {(s["memoryBytes"], s["gpus"], tuple(s["gpuIds"])) for s in docker_api_policy(run)["shapes"]}
    assert shapes == {(2 * 1024**3, 0, ()), (8 * 1024**3, 1, ("0", "GPU-8a2c")), (2 * 1024**3, 1, ("GPU-8a2c",))}


def test_without_gpus_the_hub_is_told_no_host_name(run_dev: ProgramRun) -> None:
    assert "gpu_host" not in spawner_traits(run_dev)
