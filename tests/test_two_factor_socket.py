"""The operator socket refuses a session that has not passed required two-factor (N5), in the
company that requires it only; a member of another company connects as before."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from .conftest import WS, session_cookie, ws_connect


def test_a_session_without_required_two_factor_gets_4401(live: str, tenants: Any) -> None:
    acme, globex = tenants
    acme.company.require_two_factor = True
    acme.company.save(update_fields=["require_two_factor"])
    refused = WS(ws_connect(live, "/ws/operator", cookie=session_cookie(acme.owner)))
    with pytest.raises(ConnectionClosed) as closed:
        refused.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    other = WS(ws_connect(live, "/ws/operator", cookie=session_cookie(globex.owner)))
    assert other.recv()["type"] == "welcome"
