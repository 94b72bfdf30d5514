import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { TenantBrokerError } from '../errors';
import { certificateIdentity, isCertificateIdentitySource, type CertificateIdentitySource } from '../tenancy/certificate-identity';
import type { PendingConnections } from './pending';

export interface TlsFiles {
  keyFile: string;
  certFile: string;
  caFile?: string;
  /** Ask for a client certificate and refuse connections without a valid one (signed by `caFile`). */
  requireClientCert?: boolean;
  /** A certificate revocation list (PEM): a client certificate it lists is refused like a foreign one. */
  crlFile?: string;
  /**
   * Take the login from the verified client certificate instead of the
   * CONNECT's username and password (see tenancy/certificate-identity.ts):
   * `none` (default), `cn`, `san-dns`, `san-email` or `san-uri`. Needs
   * `requireClientCert`.
   */
  certificateIdentity?: CertificateIdentitySource;
}

export interface ListenerOptions {
  port: number;
  host: string;
  tls?: TlsFiles;
  /** Connections not yet accepted: refused past the memory budget, closed without a CONNECT in time. */
  pending: PendingConnections;
}

export interface WsListenerOptions extends ListenerOptions {
  path: string;
  /** Answers a plain HTTP request (not an upgrade) when it is its own; true when it was. */
  onRequest?: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => boolean;
}

export type Transport = 'tcp' | 'tls' | 'ws' | 'wss';

export interface ConnectionInfo {
  transport: Transport;
  remoteAddress: string | undefined;
  req?: http.IncomingMessage;
  /** The socket whose arrival opened the pending connection (TCP or TLS socket; under WebSocket, the request's). */
  socket: net.Socket;
  /**
   * On a listener that takes identities from client certificates: the login
   * the verified certificate names (null when it names none). Absent elsewhere.
   */
  certificate?: { identity: string | null };
}

export type ConnectionHandler = (stream: Duplex, info: ConnectionInfo) => void;

function readTlsFiles(files: TlsFiles, handshakeTimeout: number): tls.TlsOptions {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TenantBrokerError(`cannot read TLS ${what} file ${path}: ${(err as Error).message}`, 'errors.tls-file', { path, what });
    }
  };
  const identity = files.certificateIdentity ?? 'none';
  if (!isCertificateIdentitySource(identity)) {
    throw new TenantBrokerError(`unknown certificate identity ${String(identity)}: none, cn, san-dns, san-email or san-uri`, 'errors.tls-identity', { identity: String(identity) });
  }
  if (identity !== 'none' && !files.requireClientCert) {
    throw new TenantBrokerError('an identity from client certificates needs requireClientCert', 'errors.tls-identity-needs-client-cert', { identity });
  }
  const options: tls.TlsOptions = {
    key: read(files.keyFile, 'key'),
    cert: read(files.certFile, 'certificate'),
    ca: files.caFile ? read(files.caFile, 'CA') : undefined,
    crl: files.crlFile ? read(files.crlFile, 'CRL') : undefined,
    requestCert: Boolean(files.requireClientCert),
    // Node would destroy an unverified socket silently after the handshake;
    // verifiedPeer does the same, and counts it (`tls-rejected`)
    rejectUnauthorized: false,
    // the handshake comes before the CONNECT's own deadline starts, and gets as long
    handshakeTimeout,
  };
  try {
    // a file that reads but does not parse (a key, a certificate, a CRL) is a settings error, said at start
    tls.createSecureContext(options);
  } catch (err) {
    throw new TenantBrokerError(`TLS settings unusable: ${(err as Error).message}`, 'errors.tls-settings', { reason: (err as Error).message });
  }
  return options;
}

/**
 * The TLS socket's client certificate as the listener's settings require:
 * false when one is required and not verified (missing, revoked, signed by
 * another CA: the caller counts and closes it); otherwise what the
 * connection carries of it.
 */
function verifiedPeer(socket: tls.TLSSocket, files: TlsFiles | undefined): false | Pick<ConnectionInfo, 'certificate'> {
  if (!files?.requireClientCert) return {};
  if (!socket.authorized) return false;
  const source = files.certificateIdentity ?? 'none';
  if (source === 'none') return {};
  return { certificate: { identity: certificateIdentity(socket.getPeerCertificate(), source) } };
}

function listen(server: net.Server, options: ListenerOptions, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const key = err.code === 'EADDRINUSE' ? 'errors.port-in-use' : err.code === 'EACCES' ? 'errors.port-denied' : 'errors.listen';
      reject(new TenantBrokerError(`${what} cannot listen on ${options.host}:${options.port}: ${err.message}`, key, { port: options.port, host: options.host, reason: err.message }, 'unavailable'));
    };
    server.once('error', onError);
    server.listen({ port: options.port, host: options.host }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Closes a server and resolves once its port is released: every open socket
 * is destroyed first, because `server.close()` alone waits for clients to
 * leave, and a restart on the same port must never meet EADDRINUSE.
 */
function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      for (const socket of sockets) socket.destroy();
      resolve();
      return;
    }
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}

function trackSockets(server: net.Server, sockets: Set<net.Socket>): void {
  // one handler for every socket (`this` is the socket): no closure per connection
  function untrack(this: net.Socket): void {
    sockets.delete(this);
  }
  // 'connection' fires for the raw TCP socket under TLS and HTTP servers too
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', untrack);
  });
}

/** MQTT over TCP, or over TLS when `tls` is given. */
export class TcpListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly options: ListenerOptions,
    onConnection: ConnectionHandler,
  ) {
    const transport: Transport = options.tls ? 'tls' : 'tcp';
    const pending = options.pending;
    const accept = (socket: net.Socket) => {
      const peer = options.tls ? verifiedPeer(socket as tls.TLSSocket, options.tls) : {};
      if (peer === false) return void pending.refuse(socket, transport, 'tls-rejected', String((socket as tls.TLSSocket).authorizationError));
      if (!pending.open(socket, transport)) return void socket.destroy();
      onConnection(socket, { transport, remoteAddress: socket.remoteAddress, socket, ...peer });
      pending.meter(socket);
    };
    if (options.tls) {
      this.server = tls.createServer(readTlsFiles(options.tls, pending.options.connectTimeoutMs), accept);
      // a failed handshake must not reach the broker or crash the process
      this.server.on('tlsClientError', (_err, socket) => socket.destroy());
    } else {
      this.server = net.createServer(accept);
    }
    trackSockets(this.server, this.sockets);
  }

  start(): Promise<AddressInfo> {
    return listen(this.server, this.options, 'MQTT');
  }

  close(): Promise<void> {
    return closeServer(this.server, this.sockets);
  }
}

/** MQTT over WebSocket (or secure WebSocket) on its own HTTP(S) server and path. */
export class WsListener {
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly options: WsListenerOptions,
    onConnection: ConnectionHandler,
  ) {
    const transport: Transport = options.tls ? 'wss' : 'ws';
    const refuse = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (options.onRequest?.(req, res, options.path)) return;
      res.writeHead(426, { 'Content-Type': 'text/plain' }).end(`MQTT over WebSocket: connect to ${options.path}\n`);
    };
    const pending = options.pending;
    this.server = options.tls ? https.createServer(readTlsFiles(options.tls, pending.options.connectTimeoutMs), refuse) : http.createServer(refuse);
    if (options.tls) this.server.on('tlsClientError', (_err, socket) => socket.destroy());
    trackSockets(this.server, this.sockets);
    // pending from the socket's arrival: the HTTP upgrade counts against the deadline and the budget too
    this.server.on(options.tls ? 'secureConnection' : 'connection', (socket: net.Socket) => {
      if (options.tls && verifiedPeer(socket as tls.TLSSocket, options.tls) === false) return void pending.refuse(socket, transport, 'tls-rejected', String((socket as tls.TLSSocket).authorizationError));
      if (pending.open(socket, transport)) pending.meter(socket);
      else socket.destroy();
    });
    // a message is at most one packet of the largest size after CONNACK; lower before it (PendingConnection.upgraded)
    this.wss = new WebSocketServer({ server: this.server, path: options.path, maxPayload: pending.maxMessageBytes, perMessageDeflate: false });
    this.wss.on('connection', (ws, req) => {
      const socket = req.socket;
      // ws no longer lets a connection's cap be lowered: refuse rather than buffer messages of any size
      if (!pending.of(socket)?.upgraded(ws)) return void ws.terminate();
      const peer = options.tls ? verifiedPeer(socket as tls.TLSSocket, options.tls) : {};
      if (peer === false) return void ws.terminate();
      const stream = createWebSocketStream(ws);
      // a protocol error on the socket surfaces here; the broker closes the client
      stream.on('error', () => stream.destroy());
      onConnection(stream, { transport, remoteAddress: socket.remoteAddress, req, socket, ...peer });
    });
    this.wss.on('error', () => undefined);
  }

  start(): Promise<AddressInfo> {
    return listen(this.server, this.options, 'MQTT over WebSocket');
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await closeServer(this.server, this.sockets);
  }
}
