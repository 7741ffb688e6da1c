// CORS in Debian's Chromium (headless): a page served from a second origin (listed in
// cors.allowed_origins) gets a token from the API and creates a player with it (a JSON
// POST with Authorization: preflighted), and reads the exposed Location header. The same
// page served from an unlisted origin (localhost instead of 127.0.0.1) cannot read the
// API's answers, while the API itself still answers it as before (no 403).
//
// usage: node cors.mjs <api-base-url> <page-port>   (the API lists http://127.0.0.1:<page-port>)
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [api, pagePort] = process.argv.slice(2);
if (!api || !pagePort) {
  console.error('usage: node cors.mjs <api-base-url> <page-port>');
  process.exit(2);
}
const fail = (message) => {
  throw new Error(message);
};

const page_html = '<!doctype html><html><head><meta charset="utf-8"><title>second origin</title></head><body>cors check</body></html>';
const server = createServer((_, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(page_html);
});
await new Promise((resolve) => server.listen(Number(pagePort), '127.0.0.1', resolve));

// What the page runs: client credentials, then a create with the token.
const script = async ({ api, squadNumber }) => {
  const tokenResponse = await fetch(`${api}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'foobarbaz',
      client_secret: '#!_7h3qu1ck8r0wnf0xjump50v3r7h3l42yd09=@42',
    }),
  });
  const token = (await tokenResponse.json()).access_token;
  // Authorization is not a CORS-safelisted header: the browser preflights this POST and
  // sends it only if the preflight's answer allows it.
  const created = await fetch(`${api}/players`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ firstName: 'Cross', lastName: 'Origin', squadNumber, position: 'Goalkeeper' }),
  });
  return {
    tokenStatus: tokenResponse.status,
    createdStatus: created.status,
    location: created.headers.get('Location'),
    body: await created.json(),
  };
};

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'cors-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--no-first-run'],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());

  await page.goto(`http://127.0.0.1:${pagePort}/`);
  const listed = await page.evaluate(script, { api, squadNumber: 31 });
  if (listed.tokenStatus !== 200) fail(`token from the listed origin: ${listed.tokenStatus}`);
  if (listed.createdStatus !== 201) fail(`create from the listed origin: ${listed.createdStatus} ${JSON.stringify(listed.body)}`);
  if (listed.location !== `/players/${listed.body.id}`) fail(`Location not readable: ${listed.location}`);

  // Unlisted: the browser refuses to hand any answer to the page, even a read...
  await page.goto(`http://localhost:${pagePort}/`);
  const refused = await page.evaluate(async (api) => {
    try {
      const response = await fetch(`${api}/players`);
      return `read ${response.status}`;
    } catch (e) {
      return String(e);
    }
  }, api);
  if (!/TypeError|Failed to fetch/.test(refused)) fail(`an unlisted origin could read the API: ${refused}`);
  // ...while the API answers it as it always did (no 403), only without CORS headers.
  const direct = await fetch(`${api}/players`, { headers: { Origin: `http://localhost:${pagePort}` } });
  if (direct.status !== 200) fail(`the API refused an unlisted origin: ${direct.status}`);
  if (direct.headers.get('access-control-allow-origin')) fail('an unlisted origin got Access-Control-Allow-Origin');
  console.log(`cors: listed origin got a token and created player ${listed.body.squadNumber} (after a preflight; Location readable); unlisted origin could not read (the API answered it 200, without CORS headers)`);
} finally {
  await context.close();
  server.close();
}
