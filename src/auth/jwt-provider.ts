import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TenantBrokerError } from '../errors';
import { loginNameProblem, rulesOf, type ProviderAnswer } from '../tenancy/providers';
import type { AuthProvider, LoginAttempt } from './provider';

export interface JwtProviderOptions {
  /** HS256/384/512: the shared secret. Used as its raw UTF-8 bytes unless `secretEncoding` is `base64`. */
  secret?: string;
  secretEncoding?: 'utf8' | 'base64';
  /** RS*, PS*, ES* or EdDSA: the issuer's public key (PEM). */
  publicKey?: string;
  /** A JWKS file (JSON `{"keys": [...]}`), read once when the broker starts. */
  jwksFile?: string;
  /** Required `iss`, when set. */
  issuer?: string;
  /** Required `aud`, when set. */
  audience?: string;
  /** The claim naming the tenant. Default `tenant`. */
  tenantClaim?: string;
  /** The claim holding rules in the device-rule format. Default `acl`. */
  aclClaim?: string;
  /** When set, the CONNECT's username must equal this claim (e.g. `sub`); otherwise the username is free. */
  usernameClaim?: string;
  /** Seconds of clock difference tolerated on `exp` and `nbf`: at most 5, default 5. */
  clockToleranceSeconds?: number;
}

export const MAX_JWT_CLOCK_TOLERANCE_SECONDS = 5;
const HMAC = ['HS256', 'HS384', 'HS512'];

type Jose = typeof import('jose');
type Verifier = Parameters<Jose['jwtVerify']>[1];

// a compact JWS: three base64url parts, the first a JSON header
const JWT_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Whether a password is shaped as a token (never a proof that it is one). */
export function looksLikeJwt(password: Buffer): boolean {
  if (password.length < 16 || password.length > 16384 || password[0] !== 0x65 /* e: '{"' in base64url */) return false;
  return JWT_SHAPE.test(password.toString('latin1'));
}

/**
 * Logins whose password is a JWT: the signature (HMAC secret, public key or
 * JWKS) and `exp`/`nbf` (with a small clock tolerance), `iss` and `aud` when
 * configured, are checked by `jose`; the tenant comes from a claim, the
 * device from `sub`, rules from a claim. A password that is not a JWT is not
 * this provider's; a token that fails a check is denied. A JWT never grants
 * root, whatever it claims.
 */
export class JwtProvider implements AuthProvider {
  readonly name = 'jwt' as const;
  readonly mayGrantSuperuser = false;
  readonly remote = false;
  private jose: Jose | null = null;
  private readonly key: Promise<{ verifier: Verifier; algorithms: string[] }>;
  private readonly tolerance: number;

  constructor(private readonly options: JwtProviderOptions) {
    const keys = [options.secret, options.publicKey, options.jwksFile].filter((k) => k !== undefined && k !== '');
    if (keys.length !== 1) throw new TenantBrokerError('the JWT provider needs exactly one of a secret, a public key or a JWKS file', 'errors.jwt-key', {});
    this.tolerance = Math.min(MAX_JWT_CLOCK_TOLERANCE_SECONDS, Math.max(0, options.clockToleranceSeconds ?? MAX_JWT_CLOCK_TOLERANCE_SECONDS));
    this.key = this.loadKey();
    // a bad key file is reported at start; a login never waits for it to fail
    this.key.catch(() => undefined);
  }

  /** Resolves once the key is loaded; rejects with why it cannot be. */
  ready(): Promise<void> {
    return this.key.then(() => undefined);
  }

  private async loadKey(): Promise<{ verifier: Verifier; algorithms: string[] }> {
    // jose is ESM-only
    this.jose = await import('jose');
    const o = this.options;
    if (o.secret) {
      const bytes = o.secretEncoding === 'base64' ? Buffer.from(o.secret, 'base64') : Buffer.from(o.secret, 'utf8');
      if (bytes.length === 0) throw new TenantBrokerError('the JWT secret is empty', 'errors.jwt-key', {});
      return { verifier: new Uint8Array(bytes), algorithms: HMAC };
    }
    if (o.publicKey) {
      let key: KeyObject;
      try {
        key = createPublicKey(o.publicKey);
      } catch (err) {
        throw new TenantBrokerError(`the JWT public key is not a PEM public key: ${(err as Error).message}`, 'errors.jwt-key', {});
      }
      return { verifier: key, algorithms: algorithmsFor(key) };
    }
    let jwks: unknown;
    try {
      jwks = JSON.parse(readFileSync(o.jwksFile!, 'utf8'));
    } catch (err) {
      throw new TenantBrokerError(`cannot read the JWKS file ${o.jwksFile}: ${(err as Error).message}`, 'errors.jwt-key', {});
    }
    const set = this.jose.createLocalJWKSet(jwks as Parameters<Jose['createLocalJWKSet']>[0]);
    return { verifier: set as unknown as Verifier, algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] };
  }

  async authenticate(attempt: LoginAttempt): Promise<ProviderAnswer> {
    if (!looksLikeJwt(attempt.password)) return { result: 'ignore' };
    const { verifier, algorithms } = await this.key;
    const jose = this.jose!;
    const token = attempt.password.toString('latin1');
    try {
      jose.decodeProtectedHeader(token);
    } catch {
      return { result: 'ignore' };
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jose.jwtVerify(token, verifier, {
        algorithms,
        clockTolerance: this.tolerance,
        ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
        ...(this.options.audience ? { audience: this.options.audience } : {}),
      }));
    } catch {
      // bad signature, expired, not yet valid, wrong issuer or audience
      return { result: 'deny' };
    }
    const o = this.options;
    if (o.usernameClaim && payload[o.usernameClaim] !== attempt.username) return { result: 'deny' };
    const tenant = payload[o.tenantClaim || 'tenant'];
    if (typeof tenant !== 'string' || tenant === '') return { result: 'deny' };
    const sub = payload.sub;
    if (sub !== undefined && loginNameProblem(sub) !== null) return { result: 'deny' };
    const rules = rulesOf(payload[o.aclClaim || 'acl']);
    if ('problem' in rules) return { result: 'deny' };
    const exp = typeof payload.exp === 'number' ? payload.exp : undefined;
    return {
      result: 'allow',
      tenant,
      ...(typeof sub === 'string' ? { device: sub } : {}),
      ...(rules.rules ? { rules: rules.rules } : {}),
      ...(exp !== undefined ? { expiresAt: (exp + this.tolerance) * 1000 } : {}),
    };
  }
}

function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec':
      return ['ES256', 'ES384', 'ES512'];
    case 'ed25519':
    case 'ed448':
      return ['EdDSA'];
    default:
      throw new TenantBrokerError(`a ${key.asymmetricKeyType} key cannot verify JWTs`, 'errors.jwt-key', {});
  }
}
