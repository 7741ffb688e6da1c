"""A DPoP call step by step (RFC 9449), as a client makes it: a key pair, a proof for the
token request, a DPoP-bound token, a proof for the write. curl cannot sign proofs.

    pip install 'pyjwt[crypto]' requests
    python3 e2e/dpop_call.py http://127.0.0.1:9000 foobarbaz '#!_7h3qu1ck8r0wnf0xjump50v3r7h3l42yd09=@42'

The end-to-end checks run it, and check that the same proof replayed is refused.
"""
import base64
import hashlib
import json
import sys
import time
import uuid

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

base, client_id, client_secret = sys.argv[1:4]

# 1. The client's key pair: the private key never leaves the client.
key = ed25519.Ed25519PrivateKey.generate()
public_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))


# 2. A proof: a JWT over the method and URL (and the token's hash, at the API), signed
#    with the key, which its header carries.
def proof(method, url, token=None, nonce=None):
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token:
        digest = hashlib.sha256(token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode(claims, key, algorithm="EdDSA",
                      headers={"typ": "dpop+jwt", "jwk": public_jwk})


# 3. A token bound to the key (a server that requires nonces answers use_dpop_nonce
#    first, with the nonce to retry with).
token_url = f"{base}/auth/token"
form = {"grant_type": "client_credentials", "client_id": client_id,
        "client_secret": client_secret}
response = requests.post(token_url, data=form, headers={"DPoP": proof("POST", token_url)})
if response.status_code == 400 and response.json()["error"] == "use_dpop_nonce":
    nonce = response.headers["DPoP-Nonce"]
    response = requests.post(token_url, data=form,
                             headers={"DPoP": proof("POST", token_url, nonce=nonce)})
response.raise_for_status()
token = response.json()["access_token"]
assert response.json()["token_type"] == "DPoP", response.json()
nonce = response.headers.get("DPoP-Nonce")

# 4. A write: the token with the DPoP scheme, and a fresh proof for this request.
players_url = f"{base}/players"
player = {"firstName": "Lionel", "lastName": "Scaloni", "squadNumber": 98,
          "position": "Coach"}
write_proof = proof("POST", players_url, token, nonce)
headers = {"Authorization": f"DPoP {token}", "DPoP": write_proof}
response = requests.post(players_url, json=player, headers=headers)
print("POST /players with a DPoP-bound token:", response.status_code)
assert response.status_code == 201, response.text

# 5. The same proof again is a replay: refused, whoever sends it.
player["squadNumber"] = 97
replayed = requests.post(players_url, json=player, headers=headers)
print("the same proof replayed:", replayed.status_code, replayed.json()["error"])
assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_dpop_proof"
