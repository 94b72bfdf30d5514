/**
 * Identity from a verified client certificate (EMQX's peer_cert_as_username):
 * which field of the certificate names the login, and how a field's value
 * becomes a login name. Pure: the TLS listener hands over what Node's
 * `getPeerCertificate()` gives.
 *
 * - `cn`: the subject's common name (the last CN when the subject has several);
 * - `san-dns`: the first DNS subject alternative name;
 * - `san-email`: the first email SAN, its local part (`sensor-1@example.com` → `sensor-1`);
 * - `san-uri`: the first URI SAN, its last segment after `/` or `:`
 *   (`spiffe://example.com/devices/sensor-1`, `urn:dev:sensor-1` → `sensor-1`).
 *
 * The result must be a login name (letters, digits, `_`, `.`, `-`; never
 * `root`); anything else is no identity, and the login is refused as an
 * unknown username is (CONNACK 4).
 */
import { tenantNameProblem } from './topics';

export const CERTIFICATE_IDENTITY_SOURCES = ['none', 'cn', 'san-dns', 'san-email', 'san-uri'] as const;
export type CertificateIdentitySource = (typeof CERTIFICATE_IDENTITY_SOURCES)[number];

/** What of `tls.PeerCertificate` this module reads. */
export interface PeerCertificateFields {
  subject?: Record<string, string | string[] | undefined> | null;
  /** Node's rendering: `DNS:a.example, email:x@y, URI:spiffe://t/d` (values with `,` or `"` JSON-quoted). */
  subjectaltname?: string;
}

export function isCertificateIdentitySource(value: unknown): value is CertificateIdentitySource {
  return typeof value === 'string' && (CERTIFICATE_IDENTITY_SOURCES as readonly string[]).includes(value);
}

const SAN_TYPE = { 'san-dns': 'DNS', 'san-email': 'email', 'san-uri': 'URI' } as const;

/** The login a certificate names under `source`, or null when it names none (`none`, field absent, not a login name). */
export function certificateIdentity(cert: PeerCertificateFields | null | undefined, source: CertificateIdentitySource): string | null {
  if (!cert || source === 'none') return null;
  let value: string | undefined;
  if (source === 'cn') {
    const cn = cert.subject?.CN;
    value = Array.isArray(cn) ? cn[cn.length - 1] : cn;
  } else {
    const type = SAN_TYPE[source];
    const san = subjectAltNames(cert.subjectaltname ?? '').find((name) => name.type === type);
    value = san && (source === 'san-email' ? localPart(san.value) : source === 'san-uri' ? lastSegment(san.value) : san.value);
  }
  if (value === undefined || tenantNameProblem(value) !== null) return null;
  return value;
}

/** Node's `subjectaltname` string as a list, in certificate order. */
export function subjectAltNames(rendered: string): Array<{ type: string; value: string }> {
  const names: Array<{ type: string; value: string }> = [];
  let i = 0;
  while (i < rendered.length) {
    while (rendered[i] === ' ' || rendered[i] === ',') i++;
    const colon = rendered.indexOf(':', i);
    if (colon === -1) break;
    const type = rendered.slice(i, colon);
    i = colon + 1;
    let value: string;
    if (rendered[i] === '"') {
      // a JSON string: find its closing quote, skipping escaped ones
      let end = i + 1;
      while (end < rendered.length && rendered[end] !== '"') end += rendered[end] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(rendered.slice(i, end + 1)) as string;
      } catch {
        return names;
      }
      i = end + 1;
    } else {
      const comma = rendered.indexOf(', ', i);
      const end = comma === -1 ? rendered.length : comma;
      value = rendered.slice(i, end);
      i = end;
    }
    names.push({ type, value });
  }
  return names;
}

function localPart(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  return at > 0 ? address.slice(0, at) : undefined;
}

function lastSegment(uri: string): string | undefined {
  const segments = uri.split(/[/:]/).filter((s) => s !== '');
  return segments[segments.length - 1];
}
