"""The web page (``GET /``) and the API docs page (``GET /docs``): files of ``static/``, read once.

Every asset is served from the package (no CDN, nothing fetched by the browser from elsewhere);
pages send a Content-Security-Policy that allows only this origin.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

#: Served files: name -> media type.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "docs.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
#: Only this origin's scripts, styles, images and API (the pages draw their chart as inline SVG).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@cache
def asset(name: str) -> tuple[bytes, str] | None:
    """(content, media type) of the static file ``name``, or None when it is not one of :data:`ASSETS`."""
    if name not in ASSETS:
        return None
    return (resources.files("fennec_core.serve") / "static" / name).read_bytes(), ASSETS[name]
