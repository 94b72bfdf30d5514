import type { ConnectionInfo, TenantJson } from './api';
import { button, select } from './dom';
import { t } from './i18n';
import type { PanelContext, TenantData } from './model';

const WILDCARD_HOSTS = ['', '0.0.0.0', '::', '[::]'];

/** A host as a URL writes it: IPv6 in brackets. */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** One line a device needs: its label, its value, and whether the value is typed in as it is (a host, a port, a name). */
export interface ConnectionLine {
  label: string;
  value: string;
  literal: boolean;
}

/** The lines a device needs, in order. */
export function connectionLines(info: ConnectionInfo, tenant: TenantJson, login: string, clientId: string | null, browserHost: string): ConnectionLine[] {
  // a broker bound to every interface is reached the way this editor is
  const host = info.host && !WILDCARD_HOSTS.includes(info.host) ? info.host : browserHost;
  const namespace = tenant.namespace ?? tenant.username;
  const lines: ConnectionLine[] = [];
  const add = (label: string, value: string, literal = true) => lines.push({ label, value, literal });
  add(t('connect.host'), host);
  if (info.mqtt_port !== null) add(info.tls ? t('connect.mqtts-port') : t('connect.mqtt-port'), String(info.mqtt_port));
  if (info.ws_port !== null) add(t('connect.ws-url'), `${info.tls ? 'wss' : 'ws'}://${urlHost(host)}:${info.ws_port}${info.ws_path ?? ''}`);
  add(t('connect.username'), login);
  add(t('connect.password'), t('connect.password-note', { login }), false);
  if (clientId) add(t('connect.client-id'), clientId);
  add(t('connect.protocol'), t('connect.protocol-value'), false);
  add(t('connect.namespace'), namespace);
  add(t('connect.topics'), tenant.isolation === 'mountpoint' ? t('connect.topics-mountpoint', { namespace }) : t('connect.topics-prefix', { namespace }), false);
  return lines;
}

/** Copies text: the Clipboard API where the page may use it, else a selected textarea. */
async function copy(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = $('<textarea class="tenant-broker-copy-area" readonly></textarea>').val(text).appendTo(document.body);
  (area[0] as HTMLTextAreaElement).select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error(t('connect.copy-failed'));
}

/** What to give a device so it can connect as one of the tenant's logins, ready to copy. */
export function connectPanel(el: JQuery, data: TenantData, view: PanelContext): void {
  const toolbar = $('<div class="tenant-broker-toolbar"></div>').appendTo(el);
  $('<label class="tenant-broker-toolbar-text"></label>').attr('for', 'tenant-broker-connect-login').text(t('connect.login')).appendTo(toolbar);
  const logins: Array<[string, string]> = [[data.tenant.username, t('connect.tenant-login', { tenant: data.tenant.username })], ...data.devices.map((d): [string, string] => [d.username, d.username])];
  const remembered = view.memory.get('connect-login');
  const login = select(logins, logins.some(([v]) => v === remembered) ? remembered : data.tenant.username).attr('id', 'tenant-broker-connect-login').appendTo(toolbar);
  const body = $('<div class="tenant-broker-connect"></div>').appendTo(el);
  const block = $('<dl class="tenant-broker-connect-info"></dl>').appendTo(body);
  const copyButton = button(t('connect.copy'), { icon: 'fa-clipboard', small: true, cls: 'tenant-broker-copy' }).prop('disabled', true).appendTo(body);
  const status = $('<span class="tenant-broker-copy-status" role="status"></span>').appendTo(body);
  let text = '';

  const render = (info: ConnectionInfo) => {
    const name = String(login.val());
    view.memory.set('connect-login', name);
    const device = data.devices.find((d) => d.username === name);
    const lines = connectionLines(info, data.tenant, name, device?.client_id ?? null, window.location.hostname);
    block.empty();
    for (const line of lines) {
      $('<dt></dt>').text(line.label).appendTo(block);
      $('<dd></dd>').text(line.value).toggleClass('tenant-broker-literal', line.literal).appendTo(block);
    }
    text = lines.map((line) => `${line.label}: ${line.value}`).join('\n');
    copyButton.prop('disabled', false);
    status.text('');
  };

  block.text(t('sidebar.loading'));
  view.nav.api.connectionInfo().then(
    (info) => {
      render(info);
      login.on('change', () => render(info));
    },
    (err: Error) => block.text(err.message),
  );
  copyButton.on('click', () => {
    copy(text).then(
      () => status.text(t('connect.copied')),
      (err: Error) => status.text(err.message),
    );
  });
}
