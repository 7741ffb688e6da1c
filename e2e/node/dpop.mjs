// openid-client, a generic OAuth 2.0 client, doing both of RFC 9700's recommendations
// against this API: it authenticates with private_key_jwt (the key created by
// `create-client --auth private_key_jwt`), gets a DPoP-bound token, and writes with it;
// the same proof replayed is refused.
//
// usage: node dpop.mjs <issuer-url> <client-id> <private-key-pem-file>
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';

const [issuer, clientId, pemFile] = process.argv.slice(2);
if (!pemFile) {
  console.error('usage: node dpop.mjs <issuer-url> <client-id> <private-key-pem-file>');
  process.exit(2);
}
const fail = (message) => {
  throw new Error(message);
};

// The client's private key, as create-client printed it (PKCS#8 PEM, Ed25519).
const pem = readFileSync(pemFile, 'utf8');
const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
const clientKey = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);

// Every request openid-client sends, for the proof to replay.
const sent = [];
const config = await client.discovery(
  new URL(issuer),
  clientId,
  undefined,
  client.PrivateKeyJwt(clientKey),
  { algorithm: 'oauth2', execute: [client.allowInsecureRequests] }, // plain http on loopback
);
config[client.customFetch] = (url, options) => {
  sent.push({ url: String(url), headers: new Headers(options.headers) });
  return fetch(url, options);
};
const metadata = config.serverMetadata();
for (const [member, value] of [
  ['token_endpoint_auth_methods_supported', 'private_key_jwt'],
  ['token_endpoint_auth_signing_alg_values_supported', 'EdDSA'],
  ['dpop_signing_alg_values_supported', 'EdDSA'],
]) {
  if (!metadata[member]?.includes(value)) fail(`metadata ${member}: ${JSON.stringify(metadata[member])}`);
}

const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('EdDSA'));
const tokens = await client.clientCredentialsGrant(config, { scope: 'players:create' }, { DPoP });
if (tokens.token_type.toLowerCase() !== 'dpop') fail(`token_type ${tokens.token_type}`);

const player = {
  firstName: 'Pablo', lastName: 'Aimar', squadNumber: 96, position: 'Assistant Coach',
};
const created = await client.fetchProtectedResource(
  config,
  tokens.access_token,
  new URL(`${issuer}/players`),
  'POST',
  JSON.stringify(player),
  new Headers({ 'content-type': 'application/json' }),
  { DPoP },
);
if (created.status !== 201) fail(`POST /players with DPoP: ${created.status} ${await created.text()}`);
const write = sent.at(-1);
if (!write.headers.get('authorization')?.startsWith('DPoP ')) fail('openid-client did not use the DPoP scheme');

// The same request, the same proof: a replay, refused.
const replayed = await fetch(`${issuer}/players`, {
  method: 'POST',
  headers: {
    authorization: write.headers.get('authorization'),
    dpop: write.headers.get('dpop'),
    'content-type': 'application/json',
  },
  body: JSON.stringify({ ...player, squadNumber: 95 }),
});
const refusal = await replayed.json();
if (replayed.status !== 401 || refusal.error !== 'invalid_dpop_proof') {
  fail(`the replayed proof: ${replayed.status} ${JSON.stringify(refusal)}`);
}
console.log('openid-client: private_key_jwt grant, DPoP-bound token, POST /players 201, replayed proof 401');
