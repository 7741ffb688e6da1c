"""Another service verifying this one's tokens from its JWKS alone, with PyJWT, an
independent JWT library: it can verify, and it holds nothing that could mint a token."""

import sys

import jwt
import requests

base, algorithm = sys.argv[1], sys.argv[2]
metadata = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
jwks_uri = metadata["jwks_uri"]
assert jwks_uri == f"{base}/.well-known/jwks.json", metadata

token = requests.post(
    f"{base}/auth/token",
    data={"grant_type": "client_credentials"},
    auth=("foobarbaz", "#!_7h3qu1ck8r0wnf0xjump50v3r7h3l42yd09=@42"),
    timeout=10,
).json()["access_token"]
header = jwt.get_unverified_header(token)
assert header["alg"] == algorithm and header["typ"] == "at+jwt" and header["kid"], header

signing_key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)
claims = jwt.decode(
    token,
    signing_key.key,
    algorithms=[algorithm],
    audience="e2e-audience",
    issuer="e2e-issuer",
)
assert claims["client_id"] == "foobarbaz" and claims["scope"] == "api:write", claims

# A token altered after signing does not verify with the published key.
head, body, signature = token.split(".")
tampered = f"{head}.{body}.{signature[:-4]}AAAA"
try:
    jwt.decode(tampered, signing_key.key, algorithms=[algorithm], audience="e2e-audience")
except jwt.InvalidSignatureError:
    pass
else:
    raise AssertionError("a tampered token verified")
print(f"PyJWT: {algorithm} token verified from {jwks_uri} (kid {header['kid']}): ok")
