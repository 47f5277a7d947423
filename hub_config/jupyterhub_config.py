# JupyterHub configuration for the hub container.
#
# Settings come from one place: /etc/jupyterhub/settings.json, written by the
# Pulumi program from stack config. Secrets come from environment variables only,
# so that an edit here or in the settings shows as a readable diff in
# `pulumi preview` instead of a masked secret. Editing this file replaces the hub
# container (its uploads change); the proxy and running notebooks are untouched.
import json
import os
from collections.abc import Mapping
from typing import Any

SETTINGS_PATH = "/etc/jupyterhub/settings.json"

# DockerSpawner and SystemUserSpawner that report a server started as soon as its
# port answers (hub_config/spawners.py, installed in the hub image).
SPAWNER_CLASSES = {
    "docker": "spawners.PromptDockerSpawner",
    "systemuser": "spawners.PromptSystemUserSpawner",
}


def configure_authenticator(c: Any, auth: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    kind = auth["type"]
    c.JupyterHub.authenticator_class = kind  # each auth.type is an authenticator's entry-point name
    c.Authenticator.admin_users = set(auth["admin_users"])
    c.Authenticator.allowed_users = set(auth["allowed_users"])
    c.Authenticator.allow_all = auth["allow_all"]
    if kind == "native":
        # NativeAuthenticator only lets in users it has approved (admins, or
        # everyone with open sign-up), so its approval is the allow rule.
        c.Authenticator.allow_all = True
        c.NativeAuthenticator.open_signup = auth["open_signup"]
    elif kind in ("github", "generic-oauth"):
        oauth = auth["oauth"]
        c.OAuthenticator.client_id = oauth["client_id"]
        c.OAuthenticator.client_secret = environ["OAUTH_CLIENT_SECRET"]
        c.OAuthenticator.oauth_callback_url = oauth["callback_url"]
        if kind == "github":
            c.GitHubOAuthenticator.allowed_organizations = set(oauth["allowed_organizations"])
        else:
            c.GenericOAuthenticator.authorize_url = oauth["authorize_url"]
            c.GenericOAuthenticator.token_url = oauth["token_url"]
            c.GenericOAuthenticator.userdata_url = oauth["userdata_url"]
            c.GenericOAuthenticator.username_claim = oauth["username_claim"]
    elif kind == "shared-password":
        c.SharedPasswordAuthenticator.user_password = environ["SHARED_PASSWORD"]
        c.Authenticator.allow_all = True


def configure_spawner(c: Any, spawner: Mapping[str, Any], network_name: str) -> None:
    c.JupyterHub.spawner_class = SPAWNER_CLASSES[spawner["type"]]
    c.DockerSpawner.image = spawner["image"]
    if len(spawner["allowed_images"]) > 1:
        c.DockerSpawner.allowed_images = dict(spawner["allowed_images"])
    c.DockerSpawner.name_template = spawner["name_template"]
    c.DockerSpawner.port = spawner["port"]
    c.DockerSpawner.network_name = network_name
    c.DockerSpawner.use_internal_ip = True
    # A user's container comes back after a Docker daemon restart (restart policy;
    # Docker refuses one together with AutoRemove, and remove=True still deletes the
    # container when its server stops) and is routed to by name, as its IP may change.
    c.DockerSpawner.use_internal_hostname = True
    # A process limit keeps a fork bomb inside its own container.
    c.DockerSpawner.extra_host_config = {
        "auto_remove": False,
        "restart_policy": {"Name": "unless-stopped"},
        "pids_limit": spawner["pids_limit"],
    }
    # A stopped server's container is removed, so the next start uses the
    # current image and settings; the user's files live in the home volume.
    c.DockerSpawner.remove = True
    c.DockerSpawner.mem_limit = spawner["mem_limit"]
    c.DockerSpawner.cpu_limit = spawner["cpu_limit"]
    c.DockerSpawner.start_timeout = spawner["start_timeout"]
    c.DockerSpawner.http_timeout = spawner["start_timeout"]
    c.DockerSpawner.extra_create_kwargs = {"labels": dict(spawner["labels"])}
    if spawner["type"] == "systemuser":
        c.SystemUserSpawner.host_homedir_format_string = "/home/{username}"
        c.SystemUserSpawner.image_homedir_format_string = "/home/{username}"
    else:
        c.DockerSpawner.notebook_dir = spawner["notebook_home"]
        c.DockerSpawner.volumes = {spawner["home_volume"]: spawner["notebook_home"]}


def configure_culler(c: Any, culler: Mapping[str, Any]) -> None:
    if not culler["enabled"]:
        return
    c.JupyterHub.load_roles = [
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        }
    ]
    c.JupyterHub.services = [
        {
            "name": "idle-culler",
            "command": ["python3", "-m", "jupyterhub_idle_culler", f"--timeout={culler['timeout']}"],
        }
    ]


def configure(c: Any, settings: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Map the deployment's settings onto JupyterHub's traitlets."""
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_port = settings["hub_port"]
    c.JupyterHub.hub_connect_ip = settings["hub_connect_ip"]
    c.JupyterHub.db_url = f"sqlite:///{settings['data_dir']}/jupyterhub.sqlite"
    c.JupyterHub.cookie_secret_file = f"{settings['data_dir']}/jupyterhub_cookie_secret"
    # The proxy runs in its own container and keeps running notebooks reachable
    # while the hub restarts; the hub must not stop users' servers when it stops.
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = settings["proxy_api_url"]
    c.ConfigurableHTTPProxy.auth_token = environ["CONFIGPROXY_AUTH_TOKEN"]
    c.JupyterHub.cleanup_servers = False
    # A restarted proxy has no routes; re-check them often so they come back fast.
    c.JupyterHub.last_activity_interval = settings["route_check_interval"]
    configure_authenticator(c, settings["authenticator"], environ)
    configure_spawner(c, settings["spawner"], settings["network_name"])
    configure_culler(c, settings["culler"])


if "get_config" in globals():  # loaded by JupyterHub, not imported by a test
    with open(SETTINGS_PATH) as settings_file:
        configure(get_config(), json.load(settings_file), os.environ)  # type: ignore[name-defined]  # noqa: F821
