"""Hosts the components as the Pulumi package `platform` (schema inferred from facade.py)."""

from facade import COMPONENTS, VERSION
from pulumi.provider.experimental import component_provider_host

if __name__ == "__main__":
    component_provider_host(COMPONENTS, name="platform", version=VERSION)
