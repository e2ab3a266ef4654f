"""How big a request body may be, by path, for the ASGI guard (lib/bodylimit.py) that
refuses a bigger one before it is read (docs/protocol.md §3 "attachments")."""

from __future__ import annotations

import re
from functools import cache
from html import escape
from typing import Any

from django.conf import settings
from django.templatetags.static import static

from plug2support.attachments.views import MULTIPART_OVERHEAD_BYTES
from plug2support.lib.bodylimit import limit_body, refusal
from plug2support.lib.uploads import too_large_error
from plug2support.mail.webhooks import body_limit as webhook_body_limit

UPLOAD_PATH = re.compile(r"^/(?:attachments/|widget/api/[^/]+/attachments)$")


async def guarded(app: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Uploads: at most a file's limit plus its multipart wrapping; the providers' inbound
    webhooks: a message's limit in their wrapping. Every other body the upload limit too, so
    that no request makes the server spool more than the biggest one it accepts."""
    limit = settings.ATTACHMENT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES
    webhook_limit = webhook_body_limit(scope["path"])
    if webhook_limit is not None:
        # A provider's inbound webhook: a message of MAIL_MAX_BYTES in the provider's wrapping.
        limit = webhook_limit
        too_large = refusal("too_large", f"A message is at most {settings.MAIL_MAX_BYTES} bytes.")
    elif UPLOAD_PATH.match(scope["path"]):
        error = too_large_error()
        too_large = refusal(error.code, error.message)
    else:
        too_large = refusal("too_large", f"A request body is at most {limit} bytes.")
        # A page's form (a picture on the profile, a logo): a page, not JSON in the tab.
        await limit_body(app, scope, receive, send, limit=limit, too_large=too_large,
                         page=_too_large_page(limit))
        return
    await limit_body(app, scope, receive, send, limit=limit, too_large=too_large)


@cache  # made once per limit, not on every request that carries a body
def _too_large_page(limit: int) -> bytes:
    megabytes = limit // (1024 * 1024)
    return (f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Too large · Plug2Support</title>
<link rel="stylesheet" href="{escape(static("console/app.css"))}"></head>
<body><main class="content"><div class="card narrow" role="alert">
<h1>That is too large</h1>
<p>What you sent is over {megabytes} MB, the most one form accepts, so nothing was saved.
Go back and choose a smaller file: a profile picture or a logo is at most 512 KB.</p>
<p><a class="button" href="/">Back to Plug2Support</a></p>
</div></main></body></html>""").encode()
