// A real OpenID Connect provider for the tests (node-oidc-provider, OpenID-certified), on loopback only.
//   node provider.mjs CONFIG.json
// CONFIG: {"port": 0-65535, "clients": [client metadata...], "accounts": {"<sub>": {claims...}}}.
// Prints "ready <issuer>" on stdout once it listens. Login is the library's development interaction (any password
// for a known account); consent is granted for the configured clients, so a login goes straight back to the client.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const accounts = config.accounts;
const CLAIMS = { openid: ['sub'], profile: ['name'], zhida: ['uscc', 'id_number'] };
const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: { keys: [{ ...signing, kid: 'test-key-1', use: 'sig', alg: 'RS256' }] },
  claims: CLAIMS,
  scopes: ['openid', 'profile', 'zhida'],
  cookies: { keys: ['zhida-test-provider-cookie-key'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, sub) {
    if (!accounts[sub]) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...accounts[sub] }) };
  },
  // First-party clients: no consent screen, the grant covers what they ask for.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile zhida');
    grant.addOIDCClaims(Object.values(CLAIMS).flat());
    await grant.save();
    return grant;
  },
});

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
