// Swagger UI as a person uses it, in Debian's Chromium (headless):
// open /swagger, click Authorize, enter the client id and secret in the client-credentials
// form (Swagger UI fetches the token itself), expand POST /players, Try it out, Execute
// with the example body, see 201; then read the player back over HTTP. Saves screenshots.
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

  // Authorize with the oauth2 client-credentials scheme.
  await page.click('button.authorize');
  const oauth = page.locator('.modal-ux .auth-container').filter({ hasText: 'OAuth2, clientCredentials' });
  await oauth.locator('#client_id_clientCredentials').fill(CLIENT_ID);
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
  console.log(`swagger ui: token 200, POST /players 201 (squad number ${player.squadNumber}), read back: ok`);
} finally {
  await context.close();
}
