"""Obtains tokens with authlib, a standard OAuth 2.0 client library, by every client
authentication method it has, and uses them on a write.

authlib sends HTTP Basic credentials *unencoded* (base64 of "id:secret" as is), unlike the
Rust `oauth2` crate used by the cargo tests, which form-urlencodes them first (RFC 6749
§2.3.1). The plus-client's secret holds '+' and '%', which the two forms disagree on."""

import base64
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session

base = sys.argv[1]
clients = {
    "foobarbaz": "#!_7h3qu1ck8r0wnf0xjump50v3r7h3l42yd09=@42",
    "plus-client": "p+q%2Fr:s t",
}

for client_id, secret in clients.items():
    for method in ("client_secret_basic", "client_secret_post"):
        sent = []
        with OAuth2Session(client_id, secret, token_endpoint_auth_method=method) as oauth:
            oauth.hooks["response"].append(lambda response, *args, **kwargs: sent.append(response.request))
            token = oauth.fetch_token(f"{base}/auth/token", grant_type="client_credentials")
        if method == "client_secret_basic":
            # What went on the wire: the raw, unencoded form.
            raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            assert sent[-1].headers["Authorization"] == f"Basic {raw}", sent[-1].headers
        assert token["token_type"] == "Bearer" and token["expires_in"] == 3600, token
        response = requests.delete(
            f"{base}/players/squadnumber/99",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        # Authenticated, and there is no player 99.
        assert response.status_code == 404, (client_id, method, response.status_code, response.text)
        print(f"authlib {method} {client_id}: ok")

# A wrong secret is refused the way RFC 6749 §5.2 says.
with OAuth2Session("plus-client", "wrong", token_endpoint_auth_method="client_secret_basic") as oauth:
    try:
        oauth.fetch_token(f"{base}/auth/token", grant_type="client_credentials")
    except Exception as error:  # authlib raises OAuthError with the server's code
        assert "invalid_client" in str(error), error
    else:
        raise AssertionError("a wrong secret got a token")
print("authlib: ok")

# Revocation (RFC 7009) and introspection (RFC 7662) through authlib's own calls, by each
# client authentication method: the client introspects its token, revokes it, and the token
# is then inactive and refused on writes.
for method in ("client_secret_basic", "client_secret_post"):
    client_id, secret = "plus-client", clients["plus-client"]
    with OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    ) as oauth:
        token = oauth.fetch_token(f"{base}/auth/token", grant_type="client_credentials")
        shown = oauth.introspect_token(f"{base}/auth/introspect", token=token["access_token"])
        assert shown.status_code == 200, shown.text
        claims = shown.json()
        assert claims["active"] is True and claims["client_id"] == client_id, claims
        assert claims["token_type"] == "Bearer" and claims["scope"] == token["scope"], claims
        revoked = oauth.revoke_token(
            f"{base}/auth/revoke", token=token["access_token"], token_type_hint="access_token"
        )
        assert revoked.status_code == 200 and revoked.text == "", (revoked.status_code, revoked.text)
        assert revoked.headers["Cache-Control"] == "no-store", revoked.headers
        again = oauth.introspect_token(f"{base}/auth/introspect", token=token["access_token"])
        assert again.json() == {"active": False}, again.text
    response = requests.delete(
        f"{base}/players/squadnumber/99",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert response.status_code == 401, (response.status_code, response.text)
    assert "The access token was revoked" in response.headers["WWW-Authenticate"], response.headers
    print(f"authlib revoke_token / introspect_token ({method}): ok")
