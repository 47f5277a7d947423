"""Checks across keys and sections, after each value passed its own."""

from __future__ import annotations

from urllib.parse import urlsplit

from components.config.auth import TYPE_SPECIFIC_KEYS, AuthConfig
from components.config.registry import config_key, fail, set_command
from components.config.stack import StackConfig
from components.config.values import is_ip_address


def check_stack(config: StackConfig) -> None:
    """Raise ConfigError for the first combination of settings that cannot work."""
    _check_auth(config)
    _check_tls(config)
    _check_home_volumes(config)
    _check_backup(config)
    _check_metrics(config)
    _check_cluster(config)
    _check_gpus(config)
    if config.docker_api_proxy and config.spawner.mounts_host_homes:
        raise fail(
            "dockerApiProxy",
            True,
            f"spawner.type {config.spawner.type} mounts host home directories, which the Docker API proxy refuses",
            "pulumi config set dockerApiProxy false (the hub then holds the Docker socket), or use spawner.type docker",
        )


def _check_gpus(config: StackConfig) -> None:
    spawner = config.spawner
    for index, profile in enumerate(spawner.profiles):
        key = f"spawner.profiles[{index}]"
        if profile.gpus and profile.gpu_ids:
            fix = f"keep one: pulumi config rm --path {key}.gpus"
            raise fail(f"{key}.gpuIds", list(profile.gpu_ids), "set together with gpus", fix)
        if unknown := [gpu for gpu in profile.gpu_ids if gpu not in spawner.gpu_devices]:
            raise fail(
                f"{key}.gpuIds", unknown, "not among spawner.gpuDevices (the host's GPUs)",
                "list the host's GPUs in spawner.gpuDevices (nvidia-smi -L), or correct the ids",
            )  # fmt: skip
        if profile.gpus > len(spawner.gpu_devices):
            raise fail(
                f"{key}.gpus", profile.gpus, f"more than the {len(spawner.gpu_devices)} GPUs of spawner.gpuDevices",
                "list the host's GPUs in spawner.gpuDevices (nvidia-smi -L), or ask for fewer",
            )  # fmt: skip
    if config.cluster.swarm and spawner.gpu_devices:
        raise fail(
            "spawner.gpuDevices", list(spawner.gpu_devices), "GPUs are given to servers on one host only, not yet in swarm mode",
            "pulumi config rm --path spawner.gpuDevices (and the profiles' gpus), or run GPU servers on one host",
        )  # fmt: skip


def _check_cluster(config: StackConfig) -> None:
    cluster = config.cluster
    if not cluster.swarm:
        swarm_only: list[tuple[str, object]] = [("cluster.registry", cluster.registry)]
        swarm_only += [("cluster.userPlacement", list(cluster.user_placement))]
        swarm_only += [("cluster.homes", cluster.homes if cluster.homes != "sticky" else "")]
        swarm_only += [("cluster.managersRunServers", cluster.managers_run_servers)]
        swarm_only += [(f"spawner.profiles[{i}].placement", list(p.placement)) for i, p in enumerate(config.spawner.profiles)]
        for key, value in swarm_only:
            if value:
                raise fail(
                    key, value, "used only with cluster.mode swarm", f"pulumi config rm --path {key}, or set cluster.mode swarm"
                )
        return
    if not cluster.registry:
        raise fail(
            "cluster.registry", "", "required with cluster.mode swarm: every node pulls the notebook image from it",
            set_command("cluster.registry", "registry.example.org:5000"),
        )  # fmt: skip
    if bool(cluster.registry_username) != (config.registry_password is not None):
        key = "registryPassword" if cluster.registry_username else "cluster.registryUsername"
        raise fail(key, None, "a registry login needs both the user and the password", f"set {key}, or remove the other one")
    if config.spawner.type != "docker":
        raise fail(
            "spawner.type", config.spawner.type, "cluster.mode swarm runs users' servers as Swarm services with volume homes",
            "pulumi config set --path spawner.type docker",
        )  # fmt: skip
    if config.spawner.named_servers.enabled and cluster.homes == "sticky":
        raise fail(
            "spawner.namedServers.enabled", True, "a user's servers share their home, and with cluster.homes sticky a home "
            "is a volume on one node, which a second server could start away from",
            "pulumi config set --path cluster.homes shared (a volume driver every node mounts), or leave named servers off",
        )  # fmt: skip
    if volumes := config.spawner.shared_volumes:
        raise fail(
            "spawner.sharedVolumes", [volume.name for volume in volumes], "a shared volume is a local volume of one host, "
            "and in swarm mode each node would mount an empty one of its own",
            "pulumi config rm --path spawner.sharedVolumes (in swarm mode, put shared data in the image of a profile)",
        )  # fmt: skip
    if config.backup.enabled:
        raise fail(
            "backup.enabled", True, "backups read the homes on the Docker host, and in swarm mode they live on the workers",
            "pulumi config set --path backup.enabled false, and back up the nodes' volumes (docs/tutorials/swarm.md)",
        )  # fmt: skip
    if templates := {key: value for key, value in cluster.home_volume_options.items() if "{{" in value}:
        raise fail(
            "cluster.homeVolumeOptions", templates, "Swarm runs '{{' in a volume option as a template, on every node",
            "write the option without '{{' (only {username} is replaced, by the spawner)",
        )  # fmt: skip
    if cluster.homes == "shared" and cluster.home_volume_driver == "local" and not cluster.home_volume_options:
        raise fail(
            "cluster.homeVolumeOptions", {}, "with homes shared and the local driver, each node would mount its own empty home",
            "give the local driver its NFS options (docs/how-to/swarm-nodes.md), or set cluster.homeVolumeDriver",
        )  # fmt: skip


def _check_auth(config: StackConfig) -> None:
    auth, authenticator = config.auth, config.auth.authenticator
    for name in authenticator.required:
        if not getattr(auth, name):
            key = f"auth.{config_key(name)}"
            raise fail(key, "", f"required for auth.type {auth.type}", set_command(key, "<value>"))
    for name, types in TYPE_SPECIFIC_KEYS.items():
        if auth.type not in types and getattr(auth, name) != getattr(AuthConfig(), name):
            key = f"auth.{config_key(name)}"
            raise fail(
                key, getattr(auth, name), f"used only with auth.type {' or '.join(types)}", f"pulumi config rm --path {key}"
            )
    github_orgs = auth.allowed_organizations if auth.type == "github" else ()
    groups = auth.allowed_groups + auth.admin_groups
    if authenticator.needs_allow_rule and not (auth.allow_all or auth.allowed_users or auth.admin_users or github_orgs or groups):
        raise fail(
            "auth.allowedUsers",
            [],
            f"JupyterHub 5+ lets nobody in through auth.type {auth.type} without an allow rule",
            "set auth.allowedGroups or auth.allowedUsers (or auth.allowedOrganizations with github), or auth.allowAll true",
        )
    if authenticator.loopback_only and not config.publishes_on_loopback:
        raise fail(
            "auth.type",
            auth.type,
            f"the dev-only {auth.type} login is refused on a stack published on {config.public_ip}",
            "use auth.type native, or pulumi config set publicIp 127.0.0.1",
        )
    if authenticator.secret and authenticator.secret_required and getattr(config, authenticator.secret) is None:
        key = config_key(authenticator.secret)
        raise fail(key, None, f"required for auth.type {auth.type}", f"pulumi config set --secret {key} <secret>")
    if authenticator.oauth:
        _check_callback_url(config)
    if auth.type == "ldap":
        _check_ldap(config)
    elif config.ldap_search_password is not None:
        raise fail("ldapSearchPassword", "[secret]", "used only with auth.type ldap", "pulumi config rm ldapSearchPassword")


def _check_callback_url(config: StackConfig) -> None:
    """The provider sends users back here: it must be this hub's public address, or the login's state cookie is lost."""
    key, url = "auth.oauthCallbackUrl", config.oauth_callback_url
    if not config.auth.oauth_callback_url and not (config.public_host or config.publishes_on_loopback):
        raise fail(
            key, "", f"cannot be made from publicIp {config.public_ip} without a host name",
            "pulumi config set publicHost hub.example.org (the name users type)",
        )  # fmt: skip
    parts = urlsplit(url)
    wanted = f"{config.public_url}hub/oauth_callback"
    if config.public_host and parts.hostname not in config.public_host:
        raise fail(key, url, f"not on publicHost ({', '.join(config.public_host)})", set_command(key, wanted))
    port = parts.port if parts.port is not None else {"https": 443, "http": 80}.get(parts.scheme)
    # With tls.mode off, a TLS proxy of the operator's may serve another scheme and port: only the host is known.
    if config.serves_tls and (parts.scheme != "https" or port != config.public_port):
        raise fail(key, url, f"not this hub's HTTPS address (publicPort {config.public_port})", set_command(key, wanted))
    if parts.scheme not in ("http", "https") or parts.path != "/hub/oauth_callback" or parts.query or parts.fragment:
        raise fail(key, url, "JupyterHub takes the provider's answer at /hub/oauth_callback", set_command(key, wanted))


def _check_ldap(config: StackConfig) -> None:
    auth = config.auth
    if auth.ldap_url.startswith("ldaps://") and auth.ldap_plain_text:
        raise fail("auth.ldapPlainText", True, "contradicts an ldaps:// URL", "pulumi config rm --path auth.ldapPlainText")
    if bool(auth.ldap_bind_dn_template) == bool(auth.ldap_search_base):
        raise fail(
            "auth.ldapBindDnTemplate", list(auth.ldap_bind_dn_template),
            "an LDAP login needs exactly one way to find the user's DN: a template (direct bind) or auth.ldapSearchBase "
            "(search bind)",
            set_command("auth.ldapBindDnTemplate[0]", "uid={username},ou=people,dc=example,dc=org"),
        )  # fmt: skip
    if any("{username}" not in template for template in auth.ldap_bind_dn_template):
        raise fail("auth.ldapBindDnTemplate", list(auth.ldap_bind_dn_template), "each template needs {username}",
                   set_command("auth.ldapBindDnTemplate[0]", "uid={username},ou=people,dc=example,dc=org"))  # fmt: skip
    if auth.ldap_search_user and config.ldap_search_password is None:
        raise fail("ldapSearchPassword", None, "required with auth.ldapSearchUser",
                   "pulumi config set --secret ldapSearchPassword <its password>")  # fmt: skip
    if config.ldap_search_password is not None and not auth.ldap_search_user:
        raise fail("auth.ldapSearchUser", "", "ldapSearchPassword is set but not whose it is",
                   set_command("auth.ldapSearchUser", "cn=reader,dc=example,dc=org"))  # fmt: skip


def _check_home_volumes(config: StackConfig) -> None:
    names = config.names
    own = [names.hub_data_volume, names.backup_state_volume, names.prometheus_data_volume, names.tls_data_volume]
    for volume in own + [names.shared_volume(shared.name) for shared in config.spawner.shared_volumes]:
        if names.is_home_volume(volume):
            raise fail(
                "spawner.homeVolumeTemplate",
                config.spawner.home_volume_template,
                f"a user could be given the deployment's own volume {volume} as their home",
                "give the template a prefix that is not the start of that name (e.g. jupyterhub-user-{username})",
            )


def _check_backup(config: StackConfig) -> None:
    if not config.backup.enabled:
        return
    if not config.backup.repository:
        raise fail(
            "backup.repository", "", "required with backup.enabled", set_command("backup.repository", "/srv/backups/jupyterhub")
        )
    if config.backup_password is None:
        raise fail(
            "backupPassword", None, "required with backup.enabled", "pulumi config set --secret backupPassword <a long password>"
        )


def _check_metrics(config: StackConfig) -> None:
    metrics = config.metrics
    if (metrics.prometheus or metrics.proxy_port) and not metrics.enabled:
        key, value = ("metrics.prometheus", True) if metrics.prometheus else ("metrics.proxyPort", metrics.proxy_port)
        raise fail(key, value, "needs metrics.enabled", set_command("metrics.enabled", "true"))
    published = [("publicPort", config.public_port), ("tls.httpPort", config.tls.http_port if config.serves_tls else 0)]
    published += [("metrics.proxyPort", metrics.proxy_port)]
    if metrics.prometheus:
        published.append(("metrics.prometheusPort", metrics.prometheus_port))
    taken: dict[int, str] = {}
    for key, port in published:
        if port and port in taken:
            raise fail(key, port, f"the same host port as {taken[port]}", set_command(key, "<another port>"))
        taken[port] = key


def _check_tls(config: StackConfig) -> None:
    tls = config.tls
    certificate_and_key = {"tlsCertificate": config.tls_certificate, "tlsKey": config.tls_key}
    given = [key for key, value in certificate_and_key.items() if value is not None]
    if tls.mode == "files" and len(given) < 2:
        missing = "tlsKey" if given == ["tlsCertificate"] else "tlsCertificate"
        raise fail(
            missing, None, "tls.mode files needs both a certificate and its key",
            f'pulumi config set --secret {missing} -- "$(cat <PEM file>)"',
        )  # fmt: skip
    if tls.mode != "files" and given:
        fix = "pulumi config set --path tls.mode files" if tls.mode == "off" else f"pulumi config rm {given[0]}"
        raise fail(given[0], "[secret]", f"used only with tls.mode files (it is {tls.mode})", fix)
    if tls.mode == "off":
        return
    if tls.http_port == config.public_port:
        raise fail(
            "tls.httpPort", tls.http_port, "same as publicPort", "choose another port (80 with publicPort 443), or 0 for none"
        )
    if tls.mode == "acme":
        _check_acme(config)


def _check_acme(config: StackConfig) -> None:
    if not config.public_host:
        raise fail(
            "publicHost", "", "tls.mode acme gets certificates for host names, and none is set",
            "point a DNS record at this host, then pulumi config set publicHost hub.example.org",
        )  # fmt: skip
    for host in config.public_host:
        if is_ip_address(host) or host == "localhost" or host.endswith(".localhost") or "." not in host:
            raise fail(
                "publicHost", host, "ACME CAs issue certificates only for fully qualified names, not IP addresses or localhost",
                "use the DNS name users type (pulumi config set publicHost hub.example.org), or tls.mode files",
            )  # fmt: skip
    if not config.tls.acme_email:
        raise fail(
            "tls.acmeEmail", "", "required with tls.mode acme (the CA's account contact)",
            set_command("tls.acmeEmail", "ops@example.org"),
        )  # fmt: skip
