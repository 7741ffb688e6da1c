// openid-client, a generic OAuth 2.0 client, finds the token endpoint through RFC 8414
// discovery from the issuer URL alone and gets tokens with it, by HTTP Basic (which it
// form-urlencodes, RFC 6749 §2.3.1) and by client_secret_post.
//
// usage: node discovery.mjs <issuer-url>
import * as client from 'openid-client';

const [issuer] = process.argv.slice(2);
if (!issuer) {
  console.error('usage: node discovery.mjs <issuer-url>');
  process.exit(2);
}
const CLIENT_ID = 'plus-client';
const CLIENT_SECRET = 'p+q%2Fr:s t';

for (const [name, auth] of [
  ['client_secret_basic', client.ClientSecretBasic(CLIENT_SECRET)],
  ['client_secret_post', client.ClientSecretPost(CLIENT_SECRET)],
]) {
  const config = await client.discovery(new URL(issuer), CLIENT_ID, undefined, auth, {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests], // plain http on loopback only
  });
  const metadata = config.serverMetadata();
  if (metadata.token_endpoint !== `${issuer}/auth/token`) {
    throw new Error(`unexpected token_endpoint ${metadata.token_endpoint}`);
  }
  const tokens = await client.clientCredentialsGrant(config, { scope: 'players:delete' });
  if (tokens.token_type.toLowerCase() !== 'bearer' || tokens.scope !== 'players:delete') {
    throw new Error(`unexpected token response ${JSON.stringify(tokens)}`);
  }
  const response = await fetch(`${issuer}/players/squadnumber/99`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${tokens.access_token}` },
  });
  if (response.status !== 404) throw new Error(`DELETE with the token: ${response.status}`);
  console.log(`openid-client ${name}: discovered ${metadata.token_endpoint}, token: ok`);
}
