"""JupyterHub on a Docker host: `pulumi up` builds the images and runs everything."""

import pulumi

from components.config import load_config
from components.deployment import Deployment, DeploymentArgs
from components.preflight import preflight

IMAGE_OUTPUTS = {
    "proxy": "proxyImage",
    "hub": "hubImage",
    "notebook": "notebookImage",
    "docker-api": "dockerApiImage",
    "backup": "backupImage",
    "prometheus": "prometheusImage",
    "tls": "tlsImage",
}

config = load_config()
deployment = Deployment("jupyterhub", DeploymentArgs(config=config, host=preflight(config)))

outputs = {
    "publicUrl": deployment.public_url,
    "networkName": deployment.network.name,
    "proxyContainer": deployment.proxy.container.name,
    "hubContainer": deployment.hub.container.name,
    **{IMAGE_OUTPUTS[role]: image.ref for role, image in deployment.images.items()},
    "notebookImageInUse": deployment.notebook_image_in_use,
    **deployment.metrics_urls,
}
if deployment.metrics_token is not None:
    outputs["metricsToken"] = deployment.metrics_token  # a secret: `pulumi stack output metricsToken --show-secrets`
for key, value in outputs.items():
    pulumi.export(key, value)
