"""JupyterHub on a Docker host: `pulumi up` builds the images and runs everything."""

import pulumi

from components.config import load_config
from components.deployment import Deployment, DeploymentArgs

deployment = Deployment("jupyterhub", DeploymentArgs(config=load_config()))

outputs = {
    "publicUrl": deployment.public_url,
    "networkName": deployment.network.name,
    "proxyContainer": deployment.proxy.container.name,
    "hubContainer": deployment.hub.container.name,
    "proxyImage": deployment.proxy_image.ref,
    "hubImage": deployment.hub_image.ref,
    "notebookImage": deployment.notebook_image.ref,
    "notebookImageInUse": deployment.notebook_image_in_use,
}
if deployment.docker_api_image is not None:
    outputs["dockerApiImage"] = deployment.docker_api_image.ref
for key, value in outputs.items():
    pulumi.export(key, value)
