"""The settings page and its connection test with gateway token authentication."""

from __future__ import annotations

from cvesweep.qualys.auth import AuthMethod
from cvesweep.simulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.web.conftest import MakeClient, Qualys

WRONG_SECRET = "Wr0ng-web-client-SECRET-8c2f"


def oauth(secret: str = DEFAULT_CLIENT_SECRET) -> dict[str, object]:
    return {
        "auth": AuthMethod.OAUTH_CLIENT,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": secret,
    }


def test_the_settings_page_shows_the_auth_method_and_gateway_never_the_secret(
    make_client: MakeClient, qualys: Qualys
) -> None:
    html = make_client(settings=oauth()).get("/settings").text
    assert f'<dd id="auth-method">oauth-client (tokens from {qualys.url})</dd>' in html
    assert DEFAULT_CLIENT_ID in html
    assert DEFAULT_CLIENT_SECRET not in html


def test_the_settings_page_says_basic_by_default(make_client: MakeClient) -> None:
    assert '<dd id="auth-method">basic</dd>' in make_client().get("/settings").text


def test_the_connection_test_uses_a_token_and_no_basic_header(
    make_client: MakeClient, qualys: Qualys
) -> None:
    before = qualys.state()["auth"]
    reply = make_client(settings=oauth()).submit("/settings/test")
    assert reply.status_code == 200 and 'id="connection-ok"' in reply.text
    after = qualys.state()["auth"]
    assert after["basic"] == before["basic"]
    assert (after["bearer"], after["tokens_issued"]) == (
        before["bearer"] + 1,
        before["tokens_issued"] + 1,
    )


def test_a_refused_client_secret_shows_the_hint_not_the_secret(make_client: MakeClient) -> None:
    reply = make_client(settings=oauth(WRONG_SECRET)).submit("/settings/test")
    assert reply.status_code == 502
    assert "refused the API client id and secret" in reply.text
    assert "CVESWEEP_QUALYS_CLIENT_SECRET" in reply.text
    assert WRONG_SECRET not in reply.text
