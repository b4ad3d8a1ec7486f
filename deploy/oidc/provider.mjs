// A local OpenID Connect provider for trying kubeward's login without an identity provider of your own.
// Two users, password = user name: `auditor` (group kubeward-auditors) and `nobody` (no group).
// Not for production: keys are generated at start and sessions live in memory.
import Provider from 'oidc-provider';

const issuer = process.env.ISSUER ?? 'http://localhost:9090';
const port = Number(process.env.PORT ?? 9090);

const users = {
  auditor: { sub: 'auditor', email: 'auditor@example.com', name: 'Ada Auditor', groups: ['kubeward-auditors'] },
  nobody: { sub: 'nobody', email: 'nobody@example.com', name: 'No Body', groups: [] },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID ?? 'kubeward',
      client_secret: process.env.CLIENT_SECRET ?? 'kubeward-local-secret',
      redirect_uris: [process.env.REDIRECT_URI ?? 'http://localhost:8080/auth/callback'],
      post_logout_redirect_uris: [process.env.POST_LOGOUT_REDIRECT_URI ?? 'http://localhost:8080/logged-out'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return { accountId: id, async claims() { return user; } };
  },
});

provider.listen(port, () => {
  console.log(`OpenID provider ${issuer} listening on ${port}`);
});
