import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 60 * 60 * 1000;

export interface IssuedCertificate {
  /** PEM */
  cert: string;
  /** PEM, PKCS#8 */
  key: string;
  serial: string;
}

export interface TestCa extends IssuedCertificate {
  issue(options: { cn: string; serial: string; server?: boolean; altNames?: x509.JsonGeneralNames }): Promise<IssuedCertificate>;
  /** A CRL (PEM) signed by this CA that lists these serial numbers. */
  crl(revoked: string[]): Promise<string>;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/**
 * A certificate authority made at run time with @peculiar/x509 (WebCrypto,
 * ECDSA P-256): no openssl binary, no fixture that expires. Valid from a day
 * ago for ten years.
 */
export async function createCa(name: string, serial = '01'): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as unknown as CryptoKeyPair;
  const notBefore = new Date(Date.now() - DAY);
  const notAfter = new Date(Date.now() + 3650 * DAY);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: `CN=${name}`,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert: caCert.toString('pem'),
    key: await keyPem(keys.privateKey),
    serial,
    async issue({ cn, serial, server, altNames }) {
      const leafKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as unknown as CryptoKeyPair;
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ];
      if (altNames) extensions.push(new x509.SubjectAlternativeNameExtension(altNames));
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial,
        subject: `CN=${cn}`,
        issuer: caCert.subject,
        notBefore,
        notAfter,
        signingAlgorithm: ALG,
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        extensions,
      });
      return { cert: cert.toString('pem'), key: await keyPem(leafKeys.privateKey), serial };
    },
    async crl(revoked) {
      const crl = await x509.X509CrlGenerator.create({
        issuer: caCert.subject,
        thisUpdate: notBefore,
        nextUpdate: notAfter,
        entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: notBefore, reason: x509.X509CrlReason.keyCompromise })),
        signingAlgorithm: ALG,
        signingKey: keys.privateKey,
        extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert)],
      });
      // OpenSSL reads the header `X509 CRL`, not the library's `CRL`
      return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
    },
  };
}
