"""The platform, one stack per environment: read top to bottom, it is the whole picture."""

import pulumi

from components.cluster import kubernetes_provider
from components.config import from_pulumi
from components.environment import Environment, EnvironmentArgs

# Every config problem is reported here, at once, before a single resource is registered.
config = from_pulumi()

provider = kubernetes_provider("kubernetes", config.cluster)
# Data-bearing objects: protected in production, kept on delete in staging.
data = pulumi.ResourceOptions(providers=[provider], protect=config.protect_data, retain_on_delete=config.retain_data)

environment = Environment("env", EnvironmentArgs(config.environment, config.namespace), opts=data)

pulumi.export("environment", config.environment)
pulumi.export("namespace", environment.namespace)
