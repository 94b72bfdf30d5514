import type { DeviceJson } from './api';
import { badge, button, searchBox } from './dom';
import { kickDevice, openDeviceForm } from './device-form';
import { t, when } from './i18n';
import type { PanelContext, TenantData } from './model';

/** The tenant's devices: filter, add, and per device its state; a device opens its form. */
export function devicesPanel(el: JQuery, data: TenantData, view: PanelContext): void {
  const toolbar = $('<div class="tenant-broker-toolbar"></div>').appendTo(el);
  const list = $('<div class="tenant-broker-list" role="list"></div>');
  const filter = (text: string) => {
    view.memory.set('devices-filter', text);
    list.children('.tenant-broker-row').each((_, row) => {
      $(row).toggle(!text || String($(row).data('search')).includes(text));
    });
  };
  const search = searchBox(t('devices.filter'), filter).val(view.memory.get('devices-filter') ?? '').appendTo(toolbar);
  button(t('devices.add'), { icon: 'fa-plus', small: true, cls: 'tenant-broker-add-device' })
    .on('click', () => openDevice(view, data, null))
    .appendTo(toolbar);
  const connected = data.devices.filter((d) => d.connections > 0).length;
  $('<div class="tenant-broker-summary"></div>').text(t('devices.summary', { count: data.devices.length, connected })).appendTo(el);
  list.appendTo(el);
  if (data.devices.length === 0) $('<div class="tenant-broker-empty"></div>').text(t('devices.none')).appendTo(list);
  for (const device of data.devices) row(device, data, view).appendTo(list);
  filter(String(search.val() ?? '').trim().toLowerCase());
}

function openDevice(view: PanelContext, data: TenantData, device: DeviceJson | null): void {
  view.nav.withForm((done) => openDeviceForm(view, data, device, () => done()));
}

function row(device: DeviceJson, data: TenantData, view: PanelContext): JQuery {
  const row = $('<div class="tenant-broker-row tenant-broker-row-link" role="listitem" tabindex="0"></div>').attr('data-device', device.username);
  const main = $('<div class="tenant-broker-row-main"></div>').appendTo(row);
  $('<span class="tenant-broker-dot"></span>').toggleClass('tenant-broker-dot-live', device.connections > 0).toggleClass('tenant-broker-dot-off', !device.enabled).appendTo(main);
  $('<span class="tenant-broker-row-title"></span>').text(device.username).attr('title', device.username).appendTo(main);
  if (!device.enabled) badge(t('sidebar.disabled'), 'off').appendTo(main);
  if (device.connections > 0) {
    badge(t('sidebar.connected', { count: device.connections }), 'live').appendTo(main);
    button('', { icon: 'fa-sign-out', small: true, title: t('devices.kick'), cls: 'tenant-broker-kick' })
      .on('click', (event) => {
        event.stopPropagation();
        kickDevice(view, device.username).then(
          () => view.reload(),
          (err: Error) => RED.notify(err.message, 'error'),
        );
      })
      .appendTo(main);
  }
  const sub: string[] = [device.roles.length > 0 ? t('devices.roles-are', { roles: device.roles.join(', ') }) : t(data.tenant.device_default_access === 'deny' ? 'devices.no-roles-deny' : 'devices.no-roles-allow')];
  if (device.client_id) sub.push(t('devices.client-id-is', { id: device.client_id }));
  sub.push(device.last_seen ? t('devices.last-seen', { when: when(device.last_seen) }) : t('devices.never-seen'));
  $('<div class="tenant-broker-row-sub"></div>').text(sub.join(' · ')).appendTo(row);
  row.data('search', [device.username, device.client_id ?? '', ...device.roles].join(' ').toLowerCase());
  const open = () => openDevice(view, data, device);
  row.on('click', open).on('keydown', (event) => {
    if (event.target === row[0] && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      open();
    }
  });
  return row;
}
