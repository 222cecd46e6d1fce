"""Where a container image comes from: EAS's official registry, or a Container Registry (ACR) repository that the
service's custom role must be allowed to pull from (the guide: with a custom role, EAS "pulls the custom image"
with the role's permissions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

# eas-registry(-vpc).<region>.cr.aliyuncs.com/pai-eas/...: the official images, pulled by EAS itself.
OFFICIAL = re.compile(r"^eas-registry(?:-vpc)?\.(?P<region>[a-z0-9-]+)\.cr\.aliyuncs\.com/pai-eas/")
# ACR Enterprise Edition: <instance name>-registry(-vpc).<region>.cr.aliyuncs.com/<namespace>/<repository>.
ENTERPRISE = re.compile(r"^(?P<instance>[a-z0-9][a-z0-9-]*?)-registry(?:-vpc)?\.(?P<region>[a-z0-9-]+)\."
                        r"cr\.aliyuncs\.com/(?P<namespace>[^/:@]+)/(?P<repository>[^:@]+)")
# ACR Personal Edition: registry(-vpc).<region>.aliyuncs.com/<namespace>/<repository>.
PERSONAL = re.compile(r"^registry(?:-vpc)?\.(?P<region>[a-z0-9-]+)\.aliyuncs\.com/(?P<namespace>[^/:@]+)/"
                      r"(?P<repository>[^:@]+)")


@dataclass(frozen=True)
class AcrRepository:
    """An ACR repository an image is pulled from."""

    edition: str  # "enterprise" or "personal"
    region: str
    namespace: str
    repository: str

    def pattern(self) -> str:
        """The repository as a policy names it (ACR's "RAM authorization information"): Enterprise Edition ARNs
        carry the instance ID, which the registry's host name does not give, hence the * in its place."""
        instance = "*/" if self.edition == "enterprise" else ""
        return f"acs:cr:*:*:repository/{instance}{self.namespace}/{self.repository}"

    def resource(self, account: str, instance_id: str) -> str:
        instance = f"{instance_id}/" if self.edition == "enterprise" else ""
        return f"acs:cr:{self.region}:{account}:repository/{instance}{self.namespace}/{self.repository}"


def is_official(image: str) -> bool:
    return OFFICIAL.match(image) is not None


def official_region(image: str) -> Optional[str]:
    match = OFFICIAL.match(image)
    return match["region"] if match else None


def acr_repository(image: str) -> Optional[AcrRepository]:
    """The ACR repository of an image that is not an official one; None for an official image or another registry."""
    if is_official(image):
        return None
    for edition, form in (("enterprise", ENTERPRISE), ("personal", PERSONAL)):
        match = form.match(image)
        if match:
            return AcrRepository(edition, match["region"], match["namespace"], match["repository"])
    return None
