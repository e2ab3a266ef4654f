"""How big a request body may be, by path, for the ASGI guard (lib/bodylimit.py) that
refuses a bigger one before it is read (docs/protocol.md §3 "attachments")."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

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
    await limit_body(app, scope, receive, send, limit=limit, too_large=too_large)
