// Swagger UI as a person uses it, in Debian's Chromium (headless):
// open /swagger, click Authorize: the client-credentials form comes first; type a wrong
// secret and see Swagger UI's own "Auth Error" (no browser login prompt, no hang); then the
// right one (Swagger UI fetches the token itself); expand POST /players, Try it out, Execute
// with the example body, see 201; then read the player back over HTTP. Also Try it out on
// POST /auth/token with its example body (the development client's id, a placeholder secret): the
// invalid_client answer is shown within 5 s. Then introspection, revocation and
// introspection again by Try it out (client_secret_post in the example body). Saves
// screenshots.
//
// usage: node swagger.mjs <base-url> <screenshot-dir>
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error('usage: node swagger.mjs <base-url> <screenshot-dir>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const CLIENT_ID = 'foobarbaz';
const CLIENT_SECRET = '#!_7h3qu1ck8r0wnf0xjump50v3r7h3l42yd09=@42';

const fail = (message) => {
  throw new Error(message);
};

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'swagger-ui-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 1400 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${base}/swagger`);

  // Authorize with the oauth2 client-credentials scheme, which is listed first.
  await page.click('button.authorize');
  const first = page.locator('.modal-ux .auth-container').first();
  if (!(await first.textContent()).includes('OAuth2, clientCredentials')) {
    fail('the client-credentials form is not the first in the Authorize dialog');
  }
  const oauth = page.locator('.modal-ux .auth-container').filter({ hasText: 'OAuth2, clientCredentials' });

  // A wrong secret: Swagger UI's own error, within 5 s (a Basic challenge would open the
  // browser's login prompt instead, and headless the request would hang).
  await oauth.locator('#client_id_clientCredentials').fill(CLIENT_ID);
  await oauth.locator('#client_secret_clientCredentials').fill('not-the-secret');
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/auth/token'), { timeout: 5000 }),
    oauth.locator('button.authorize').click(),
  ]);
  if (refused.status() !== 401) fail(`wrong secret: ${refused.status()}`);
  if (refused.headers()['www-authenticate']) fail('a Basic challenge reached the browser');
  await page.locator('.modal-ux').getByText(/auth error/i).waitFor({ timeout: 5000 });
  await page.locator('.modal-ux').getByText(/error: invalid_client/).waitFor({ timeout: 5000 });
  await page.screenshot({ path: join(shots, 'swagger-wrong-secret.png') });

  await oauth.locator('#client_secret_clientCredentials').fill(CLIENT_SECRET);
  const [tokenResponse] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/auth/token')),
    oauth.locator('button.authorize').click(),
  ]);
  if (tokenResponse.status() !== 200) fail(`token request: ${tokenResponse.status()}`);
  await oauth.getByText('Authorized', { exact: true }).waitFor();
  await page.screenshot({ path: join(shots, 'swagger-authorized.png') });
  await page.locator('.modal-ux button.close-modal').click();

  // Try POST /players with the example body.
  const operation = page.locator('#operations-Players-createPlayer');
  await operation.locator('.opblock-summary').click();
  await operation.locator('button.try-out__btn').click();
  const [created] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${base}/players` && r.request().method() === 'POST'),
    operation.locator('button.execute').click(),
  ]);
  const sentAuth = created.request().headers()['authorization'] ?? '';
  if (!sentAuth.startsWith('Bearer ')) fail('Swagger UI did not send the Bearer token');
  if (created.status() !== 201) fail(`POST /players: ${created.status()} ${await created.text()}`);
  const player = await created.json();
  await operation.locator('.live-responses-table').waitFor();
  await operation.screenshot({ path: join(shots, 'swagger-created.png') });

  // Read it back as any client would.
  const readBack = await fetch(`${base}/players/${player.id}`);
  if (readBack.status !== 200) fail(`GET /players/${player.id}: ${readBack.status}`);
  const stored = await readBack.json();
  if (JSON.stringify(stored) !== JSON.stringify(player)) fail('the stored player differs from the created one');
  // Try it out on the token operation itself, with its example body: the development
  // client's id and a placeholder secret, so Swagger UI shows the 401 (and no login prompt).
  const tokenOp = page.locator('#operations-Auth-issueToken');
  await tokenOp.locator('.opblock-summary').click();
  await tokenOp.locator('button.try-out__btn').click();
  const example = JSON.parse(await tokenOp.locator('textarea.body-param__text').inputValue());
  if (example.client_id !== CLIENT_ID) fail(`token example body: ${JSON.stringify(example)}`);
  const [tried] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/auth/token'), { timeout: 5000 }),
    tokenOp.locator('button.execute').click(),
  ]);
  if (tried.status() !== 401) fail(`Try it out on /auth/token: ${tried.status()}`);
  await tokenOp.locator('.live-responses-table').getByText(/invalid_client/).first().waitFor({ timeout: 5000 });
  await tokenOp.screenshot({ path: join(shots, 'swagger-token-try-it-out.png') });

  // Introspection, then revocation, by Try it out as a person would: the example body with
  // the real secret and a token put in (client_secret_post), Execute, read the answer.
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  const granted = await (await fetch(`${base}/auth/token`, { method: 'POST', body: form })).json();
  const opened = new Set();
  for (const [operationId, path, expected] of [
    ['introspectToken', '/auth/introspect', /"active": true/],
    ['revokeToken', '/auth/revoke', null],
    ['introspectToken', '/auth/introspect', /"active": false/],
  ]) {
    const op = page.locator(`#operations-Auth-${operationId}`);
    if (!opened.has(operationId)) {
      opened.add(operationId);
      await op.locator('.opblock-summary').click();
      await op.locator('button.try-out__btn').click();
    }
    const body = op.locator('textarea.body-param__text');
    const exampleBody = JSON.parse(await body.inputValue());
    if (exampleBody.client_id !== CLIENT_ID || !('token' in exampleBody)) fail(`${path} example body: ${JSON.stringify(exampleBody)}`);
    await body.fill(JSON.stringify({ ...exampleBody, client_secret: CLIENT_SECRET, token: granted.access_token }));
    const [answered] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(path), { timeout: 5000 }),
      op.locator('button.execute').click(),
    ]);
    if (answered.status() !== 200) fail(`Try it out on ${path}: ${answered.status()}`);
    if (expected) await op.locator('.live-responses-table').getByText(expected).first().waitFor({ timeout: 5000 });
    await op.screenshot({ path: join(shots, `swagger-${operationId}.png`) });
  }

  console.log(`swagger ui: wrong secret shown as Auth Error, token 200, POST /players 201 (squad number ${player.squadNumber}), read back: ok, token Try it out 401 shown, introspect/revoke/introspect by Try it out: active, 200, inactive`);
} finally {
  await context.close();
}
