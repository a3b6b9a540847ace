"""Gateway token auth: /auth and /auth/oauth mint JWTs, FO calls accept them as Bearer,
expiry follows the app clock, and /_sim/tokens/expire ends every token at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest

from cvesweep.simulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimulatorApp
from cvesweep.simulator.tokens import TokenIssuer

from .conftest import BASE_URL, DETECTION, HOST_LIST, make_client, parse

LOGIN = {"username": "simuser", "password": "simpass", "token": "true"}
CLIENT_HEADERS = {"clientId": DEFAULT_CLIENT_ID, "clientSecret": DEFAULT_CLIENT_SECRET}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bare(app: SimulatorApp) -> httpx.Client:
    """A client without Basic auth, with X-Requested-With."""
    return make_client(app, auth=None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_auth_gives_201_and_a_raw_jwt_that_fo_calls_accept(app):
    with bare(app) as client:
        minted = client.post("/auth", data=LOGIN)
        assert minted.status_code == 201
        assert minted.headers["content-type"].startswith("text/plain")
        token = minted.text
        header = token.split(".")[0]
        assert token.count(".") == 2
        assert json.loads(base64.urlsafe_b64decode(header + "==")) == {
            "alg": "HS256",
            "typ": "JWT",
        }
        assert set(claims(token)) == {"sub", "iat", "exp"}
        assert claims(token)["sub"] == "simuser"
        assert claims(token)["exp"] - claims(token)["iat"] == 4 * 3600
        reply = client.get(DETECTION, params={"action": "list"}, headers=bearer(token))
        assert reply.status_code == 200
        assert parse(reply.content).tag == "HOST_LIST_VM_DETECTION_OUTPUT"
        assert client.get("/msp/about.php", headers=bearer(token)).status_code == 200
        state = client.get("/_sim/state").json()
    assert state["auth"] == {"basic": 0, "bearer": 2, "none": 0, "tokens_issued": 1}
    assert state["paths"] == {"/auth": 1, DETECTION: 1, "/msp/about.php": 1}


def test_the_signature_is_hmac_sha256_of_header_and_payload():
    issuer = TokenIssuer(clock=Clock())
    token = issuer.issue("u")
    head, _, signature = token.rpartition(".")
    key = issuer._key  # the per-app random key, only to check the algorithm
    expected = hmac.new(key, head.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    assert issuer.subject(token) == "u"
    assert TokenIssuer(clock=Clock()).subject(token) is None  # another app's key


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({**LOGIN, "password": "wrong"}, 401),
        ({**LOGIN, "username": "other"}, 401),
        ({"username": "simuser", "password": "simpass"}, 400),
        ({**LOGIN, "token": "false"}, 400),
        ({"password": "simpass", "token": "true"}, 400),
    ],
)
def test_auth_refuses_bad_or_incomplete_forms(app, form, status):
    with bare(app) as client:
        response = client.post("/auth", data=form)
        assert response.status_code == status
        assert "simpass" not in response.text and "wrong" not in response.text
        assert client.get("/_sim/state").json()["auth"]["tokens_issued"] == 0


def test_auth_by_get_is_refused(app):
    with bare(app) as client:
        assert client.get("/auth", params=LOGIN).status_code == 405


def test_oauth_mints_a_token_from_the_client_headers(app):
    with bare(app) as client:
        minted = client.post("/auth/oauth", headers=CLIENT_HEADERS)
        assert minted.status_code == 201
        ok = client.get(HOST_LIST, params={"action": "list"}, headers=bearer(minted.text))
        assert ok.status_code == 200
        wrong = client.post("/auth/oauth", headers={**CLIENT_HEADERS, "clientSecret": "no"})
        assert wrong.status_code == 401
        assert client.post("/auth/oauth", headers={"clientId": "simclient"}).status_code == 400


def test_client_credentials_are_settable(fleet):
    app = SimulatorApp(fleet, client_id="cid", client_secret="s3cret")
    with bare(app) as client:
        assert client.post("/auth/oauth", headers=CLIENT_HEADERS).status_code == 401
        headers = {"clientId": "cid", "clientSecret": "s3cret"}
        assert client.post("/auth/oauth", headers=headers).status_code == 201


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "e30.e30.AAAA", "x" * 500])
def test_a_bad_token_gets_the_bad_login_reply(app, token):
    with bare(app) as client:
        response = client.get(DETECTION, params={"action": "list"}, headers=bearer(token))
    assert response.status_code == 401
    assert parse(response.content).findtext("RESPONSE/CODE") == "2000"


def test_a_token_expires_after_its_lifetime_on_the_app_clock(fleet):
    clock = Clock()
    app = SimulatorApp(fleet, clock=clock, token_lifetime=60)
    with bare(app) as client:
        token = client.post("/auth", data=LOGIN).text
        assert claims(token)["exp"] - claims(token)["iat"] == 60
        clock.now += 59
        assert client.get("/msp/about.php", headers=bearer(token)).status_code == 200
        clock.now += 1
        expired = client.get("/msp/about.php", headers=bearer(token))
        assert expired.status_code == 401
        assert parse(expired.content).findtext("RESPONSE/CODE") == "2000"
        fresh = client.post("/auth", data=LOGIN).text
        assert client.get("/msp/about.php", headers=bearer(fresh)).status_code == 200


def test_expire_endpoint_ends_every_token_issued_so_far(app):
    with bare(app) as client:
        old = [
            client.post("/auth", data=LOGIN).text,
            client.post("/auth/oauth", headers=CLIENT_HEADERS).text,
        ]
        expired = client.post("/_sim/tokens/expire")
        assert expired.status_code == 200
        for token in old:
            assert client.get("/msp/about.php", headers=bearer(token)).status_code == 401
        new = client.post("/auth", data=LOGIN).text
        assert client.get("/msp/about.php", headers=bearer(new)).status_code == 200
        assert client.get("/_sim/state").json()["auth"]["tokens_issued"] == 3


def test_basic_still_works_and_x_requested_with_is_still_required_with_bearer(app):
    with make_client(app) as basic:
        assert basic.get(DETECTION, params={"action": "list"}).status_code == 200
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=BASE_URL) as plain:
        token = plain.post("/auth", data=LOGIN).text
        response = plain.get(DETECTION, params={"action": "list"}, headers=bearer(token))
        assert response.status_code == 400
        assert parse(response.content).findtext("RESPONSE/CODE") == "1903"
        assert plain.get("/msp/about.php", headers=bearer(token)).status_code == 200
        state = plain.get("/_sim/state").json()["auth"]
    assert state == {"basic": 1, "bearer": 2, "none": 0, "tokens_issued": 1}


def test_no_authorization_is_counted_as_none(app):
    with bare(app) as client:
        assert client.get(DETECTION, params={"action": "list"}).status_code == 401
        assert client.get("/_sim/state").json()["auth"]["none"] == 1


def test_secrets_never_show_in_reprs(fleet):
    app = SimulatorApp(fleet, password="pw-123", client_secret="cs-456")
    text = repr(app._creds) + repr(vars(app))
    assert "pw-123" not in text and "cs-456" not in text


def test_token_lifetime_below_one_second_is_refused(fleet):
    with pytest.raises(ValueError, match="lifetime"):
        SimulatorApp(fleet, token_lifetime=0)
