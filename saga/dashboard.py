"""The ops dashboard (``GET /ops``): one page, served with a Content-Security-Policy.

The page is its own script and style, inline: the policy allows exactly those
(by their SHA-256), no other script, style, frame or form target, and connects
only to this origin (the API and its event stream).  No other site may frame
it (``frame-ancestors 'none'``, and ``X-Frame-Options`` for older browsers), so
an operator cannot be tricked into clicking retry or abort through an overlay.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = (Path(__file__).parent / "dashboard.html").read_text()

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _sources(kind: str) -> str:
    """The CSP sources allowing each inline ``kind`` element of the page, by its hash."""
    digests = [
        hashlib.sha256(body.encode()).digest() for tag, body in _INLINE.findall(PAGE) if tag == kind
    ]
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests) or "'none'"


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src {_sources('script')}",
        f"style-src {_sources('style')}",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter()


@router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(PAGE, headers=HEADERS)
