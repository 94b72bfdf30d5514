import type { NodeAPI } from 'node-red';

type HttpSettings = { uiPort?: number | string; uiHost?: string; httpNodeRoot?: string | false; https?: unknown };

/**
 * A webhook URL starting with `/` names this Node-RED's own HTTP server (its
 * http in nodes), whatever port it runs on: made absolute from the settings,
 * on loopback unless Node-RED listens on one address only.
 */
export function resolveOwnUrl(RED: NodeAPI, url: string): string {
  if (!url.startsWith('/')) return url;
  const settings = RED.settings as unknown as HttpSettings;
  const bound = settings.uiHost && settings.uiHost !== '0.0.0.0' && settings.uiHost !== '::' ? settings.uiHost : '127.0.0.1';
  const host = bound.includes(':') ? `[${bound}]` : bound;
  const root = (typeof settings.httpNodeRoot === 'string' ? settings.httpNodeRoot : '/').replace(/\/+$/, '');
  return `${settings.https ? 'https' : 'http'}://${host}:${settings.uiPort ?? 1880}${root}${url}`;
}
