"""How a site authenticates its calls to the coordinator: two metadata entries from its enrolment."""
from __future__ import annotations

SITE_ID_KEY = "fedads-site-id"
SITE_SECRET_KEY = "fedads-site-secret"


def site_credentials(site_id: str, secret: str) -> list[tuple[str, str]]:
    return [(SITE_ID_KEY, site_id), (SITE_SECRET_KEY, secret)]
