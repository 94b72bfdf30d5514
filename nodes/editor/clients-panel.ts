import type { ClientJson } from './api';
import { badge, button } from './dom';
import { t, when } from './i18n';
import type { PanelContext, TenantData } from './model';

/** The tenant's live connections, each with what it subscribed to, its traffic and a kick. */
export function clientsPanel(el: JQuery, data: TenantData, view: PanelContext): void {
  const toolbar = $('<div class="tenant-broker-toolbar"></div>').appendTo(el);
  $('<span class="tenant-broker-toolbar-text"></span>').text(t('clients.summary', { count: data.clients.length })).appendTo(toolbar);
  button('', { icon: 'fa-refresh', small: true, title: t('sidebar.refresh'), cls: 'tenant-broker-clients-refresh' }).on('click', () => view.reload()).appendTo(toolbar);
  const list = $('<div class="tenant-broker-list" role="list"></div>').appendTo(el);
  if (data.clients.length === 0) $('<div class="tenant-broker-empty"></div>').text(t('clients.none')).appendTo(list);
  const clients = [...data.clients].sort((a, b) => a.client_id.localeCompare(b.client_id));
  for (const client of clients) row(client, data, view).appendTo(list);
}

function row(client: ClientJson, data: TenantData, view: PanelContext): JQuery {
  const row = $('<div class="tenant-broker-row" role="listitem"></div>').attr('data-client-id', client.client_id);
  const main = $('<div class="tenant-broker-row-main"></div>').appendTo(row);
  $('<span class="tenant-broker-dot tenant-broker-dot-live"></span>').appendTo(main);
  // a client id is whatever the client sent: text only, and shown whole on hover
  $('<span class="tenant-broker-row-title"></span>').text(client.client_id || t('clients.empty-id')).attr('title', client.client_id).appendTo(main);
  badge(client.login === data.tenant.username ? t('clients.tenant-login') : client.login).appendTo(main);
  // a login no password in the registry admitted says who did
  if (client.provider && client.provider !== 'registry') badge(t('clients.provider', { provider: client.provider })).attr('title', t('clients.provider-hint')).appendTo(main);
  button('', { icon: 'fa-sign-out', small: true, title: t('clients.kick'), cls: 'tenant-broker-kick' })
    .on('click', (event) => {
      $(event.currentTarget as HTMLElement).prop('disabled', true);
      view.nav.api.kickClient(view.tenant, client.client_id).then(
        (kicked) => {
          RED.notify(t('clients.kicked', { client: client.client_id, count: kicked }), 'compact');
          view.reload();
        },
        (err: Error) => {
          $(event.currentTarget as HTMLElement).prop('disabled', false);
          RED.notify(err.message, 'error');
        },
      );
    })
    .appendTo(main);
  const sub = $('<div class="tenant-broker-row-sub"></div>').appendTo(row);
  $('<div></div>').text([t(`clients.transport.${client.transport}`), client.address ?? ''].filter(Boolean).join(' · ')).appendTo(sub);
  $('<div></div>').text(t('clients.since', { when: when(client.connected_since) }) + ' · ' + t('clients.traffic', { in: client.messages_in, out: client.messages_out })).appendTo(sub);
  const subs = $('<div class="tenant-broker-subscriptions"></div>').appendTo(sub);
  $('<span></span>').text(client.subscriptions.length === 0 ? t('clients.no-subscriptions') : t('clients.subscriptions')).appendTo(subs);
  for (const filter of client.subscriptions) $('<code></code>').text(filter).appendTo(subs);
  return row;
}
