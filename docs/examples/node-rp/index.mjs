// A minimal asnidp relying party in Node.js with openid-client (v6):
// authorization code flow with PKCE S256, state and nonce, ID token
// verification, then userinfo. After sign-in it answers the ID token's
// claims and userinfo as JSON.
//
//   asnidp client add --id node-rp --redirect-uri http://localhost:3000/callback
//   cd docs/examples/node-rp && npm ci
//   CLIENT_SECRET=<printed secret> node index.mjs   # then open http://localhost:3000/login
//
// With private_key_jwt and pushed authorization requests (RFC 9126)
// instead: register the public half of an EC P-256 key, and give the app
// the private JWK (with its kid):
//
//   asnidp client add --id node-rp --redirect-uri http://localhost:3000/callback \
//       --jwks-file node-rp.jwks.json --require-par
//   CLIENT_KEY=node-rp.private.jwk.json USE_PAR=1 node index.mjs
//
// With ES256 tokens and RFC 9068 JWT access tokens, verified offline:
//   asnidp client add --id node-rp --redirect-uri http://localhost:3000/callback \
//       --id-token-alg ES256 --access-token jwt
//   CLIENT_SECRET=<printed secret> ID_TOKEN_ALG=ES256 node index.mjs
//
// node_test.go runs exactly this file against a real asnidp.
import { createServer } from 'node:http';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';

const issuer = new URL(process.env.ISSUER ?? 'http://localhost:8080');
const clientId = process.env.CLIENT_ID ?? 'node-rp';
const clientSecret = process.env.CLIENT_SECRET; // confidential client with a secret
const clientKeyFile = process.env.CLIENT_KEY; // or a private JWK (EC P-256) for private_key_jwt
const usePAR = process.env.USE_PAR === '1';
// The algorithm registered for the client's tokens (--id-token-alg): the
// ID token must carry it, and so must a JWT access token.
const tokenAlg = process.env.ID_TOKEN_ALG ?? 'RS256';
const redirectUri = process.env.REDIRECT_URI ?? 'http://localhost:3000/callback';
const port = Number(process.env.PORT ?? 3000);

// http:// is only for an asnidp on localhost during development.
const options = issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined;
let clientAuth = client.ClientSecretBasic(clientSecret);
if (clientKeyFile) {
  // Each token (and PAR) request carries a new assertion signed with this
  // key: iss = sub = client_id, aud = the issuer, a new jti, one minute.
  const { readFile } = await import('node:fs/promises');
  const jwk = JSON.parse(await readFile(clientKeyFile, 'utf8'));
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  clientAuth = client.PrivateKeyJwt({ key, kid: jwk.kid });
}
const metadata = { id_token_signed_response_alg: tokenAlg };
if (!clientKeyFile) metadata.client_secret = clientSecret;
const config = await client.discovery(issuer, clientId, metadata, clientAuth, options);

// Sign-ins between /login and /callback, by state. The state also goes
// into an HttpOnly cookie, so a callback completes only in the browser
// that started it.
const pending = new Map();

const server = createServer(async (req, res) => {
  const url = new URL(req.url, redirectUri);
  try {
    if (url.pathname === '/login') {
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      for (const [s, p] of pending) if (Date.now() - p.created > 600_000) pending.delete(s); // abandoned sign-ins
      pending.set(state, { codeVerifier, nonce, created: Date.now() });
      const parameters = {
        redirect_uri: redirectUri,
        scope: 'openid profile email asn',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      };
      // With PAR the parameters go to asnidp server to server, and the
      // browser carries only client_id and the request_uri it answered.
      const authorizationUrl = usePAR
        ? await client.buildAuthorizationUrlWithPAR(config, parameters)
        : client.buildAuthorizationUrl(config, parameters);
      res.writeHead(303, {
        Location: authorizationUrl.href,
        'Set-Cookie': `rp_state=${state}; HttpOnly; SameSite=Lax; Path=/; Max-Age=600${redirectUri.startsWith('https:') ? '; Secure' : ''}`,
      });
      res.end();
      return;
    }
    if (url.pathname === '/callback') {
      const state = /(?:^|;\s*)rp_state=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      const sign = state && pending.get(state);
      pending.delete(state);
      if (!sign || Date.now() - sign.created > 600_000) {
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end('unknown or expired sign-in; start again at /login\n');
        return;
      }
      // Checks state, exchanges the code with the PKCE verifier and
      // validates the ID token (signature, iss, aud, exp, iat, nonce).
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: sign.codeVerifier,
        expectedState: state,
        expectedNonce: sign.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      // A client registered with --access-token jwt gets RFC 9068 access
      // tokens; its API verifies them offline like this (typ at+jwt, the
      // signature from the JWKS, iss, aud, exp). Revocation and logout
      // show only at introspection.
      let access_token_claims;
      if (tokens.access_token.split('.').length === 3) {
        const apiRequest = new Request(redirectUri, { headers: { authorization: `Bearer ${tokens.access_token}` } });
        access_token_claims = await oauth.validateJwtAccessToken(config.serverMetadata(), apiRequest, clientId, {
          signingAlgorithms: [tokenAlg],
          [oauth.allowInsecureRequests]: issuer.protocol === 'http:',
        });
      }
      // A real app starts its session here (keep tokens.id_token for
      // logout's id_token_hint) and redirects.
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Cache-Control': 'no-store',
        'Set-Cookie': 'rp_state=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0',
      });
      res.end(JSON.stringify({ id_token_claims: claims, userinfo, access_token_claims }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  } catch (err) {
    console.error('sign-in failed:', err.code ?? '', err.message);
    res.writeHead(502, { 'Content-Type': 'text/plain' }).end('sign-in failed\n');
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
