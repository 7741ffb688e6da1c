"""Uses the Python SDK generated from openapi/openapi.json by openapi-python-client as an
SDK user would: list players, get a token with authlib, create, update and delete one."""

import sys

from authlib.integrations.requests_client import OAuth2Session
from players_client import AuthenticatedClient, Client
from players_client.api.players import (
    create_player,
    delete_player,
    get_player_by_squad_number,
    list_players,
    update_player,
)
from players_client.models import Player, PlayerRequest

base = sys.argv[1]

anonymous = Client(base_url=base)
players = list_players.sync(client=anonymous)
assert isinstance(players, list) and len(players) == 26, players
assert all(isinstance(p, Player) for p in players)

with OAuth2Session("foobarbaz", "#!_7h3qu1ck8r0wnf0xjump50v3r7h3l42yd09=@42") as oauth:
    token = oauth.fetch_token(f"{base}/auth/token", grant_type="client_credentials")
client = AuthenticatedClient(base_url=base, token=token["access_token"])

request = PlayerRequest.from_dict(
    {
        "firstName": "Thiago",
        "lastName": "Almada",
        "dateOfBirth": "2001-04-26",
        "squadNumber": 50,
        "position": "Attacking Midfield",
        "abbrPosition": "AM",
        "starting11": False,
    }
)
created = create_player.sync_detailed(client=client, body=request)
assert created.status_code == 201, created
assert isinstance(created.parsed, Player) and created.parsed.squad_number == 50
assert created.headers["location"] == f"/players/{created.parsed.id}"

request.position = "Right Winger"
updated = update_player.sync_detailed(50, client=client, body=request)
assert updated.status_code == 204, updated
fetched = get_player_by_squad_number.sync(50, client=anonymous)
assert isinstance(fetched, Player) and fetched.position == "Right Winger", fetched

deleted = delete_player.sync_detailed(50, client=client)
assert deleted.status_code == 204, deleted
missing = get_player_by_squad_number.sync_detailed(50, client=anonymous)
assert missing.status_code == 404, missing

# A write without a token is refused, and the SDK parses the documented problem body.
refused = create_player.sync_detailed(client=AuthenticatedClient(base_url=base, token="x.y.z"), body=request)
assert refused.status_code == 401 and refused.parsed.error == "invalid_token", refused
print("sdk: list, token, create, update, delete: ok")
