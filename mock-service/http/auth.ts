import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Bearer-token check in constant time per candidate; returns the principal or null. */
export class Authenticator {
  private readonly accepted: { digest: Buffer; principal: string }[];

  constructor(tokens: { token: string; principal: string }[]) {
    this.accepted = tokens.map((t) => ({ digest: digest(t.token), principal: t.principal }));
  }

  static bundled(token: string): Authenticator {
    return new Authenticator([{ token, principal: 'bundled' }]);
  }

  static apiKeys(keys: string[]): Authenticator {
    // The principal names a key without revealing it (first 12 hex digits of its SHA-256).
    return new Authenticator(keys.map((k) => ({ token: k, principal: `key:${digest(k).toString('hex').slice(0, 12)}` })));
  }

  principalFor(authorization: string | undefined): string | null {
    if (!authorization) return null;
    const match = /^Bearer ([A-Za-z0-9._~+/=-]{16,512})$/.exec(authorization);
    if (!match) return null;
    const presented = digest(match[1]!);
    let found: string | null = null;
    for (const a of this.accepted) if (timingSafeEqual(presented, a.digest)) found = a.principal;
    return found;
  }
}
