import type { DeviceJson } from './api';
import { button, checkboxRow, formRow, select } from './dom';
import { wholeNumber } from './fields';
import { t, when } from './i18n';
import type { PanelContext, TenantData } from './model';
import { openForm } from './tray';

const ID = 'tenant-broker-device';

/** Closes every connection of a device (from its list row or its form) and says how many. */
export async function kickDevice(view: PanelContext, username: string): Promise<void> {
  const kicked = await view.nav.api.kickDevice(view.tenant, username);
  RED.notify(t('devices.kicked', { device: username, count: kicked }), 'compact');
}

/** The roles list of the form, in order: each item one of the tenant's roles. */
function rolesList(form: JQuery, data: TenantData, roles: string[]): () => string[] {
  const row = $('<div class="form-row tenant-broker-form-row tenant-broker-form-list-row"></div>').appendTo(form);
  $('<label></label>').text(t('device-form.roles')).appendTo(row);
  const wrap = $('<div class="tenant-broker-form-list"></div>').appendTo(row);
  const names = data.roles.map((r) => r.name);
  const list = $('<ol class="tenant-broker-device-roles"></ol>').appendTo(wrap);
  list.editableList<{ role?: string }>({
    addButton: names.length > 0 ? t('device-form.add-role') : false,
    sortable: true,
    removable: true,
    height: 'auto',
    addItem(item, _index, entry) {
      // a role the device names that no longer exists still shows, so saving does not drop it silently
      const choices = entry.role && !names.includes(entry.role) ? [...names, entry.role] : names;
      const s = select(choices.map((n) => [n, n]), entry.role ?? names[0]).addClass('tenant-broker-role-select').appendTo(item);
      s.attr('aria-label', t('device-form.role'));
    },
  });
  for (const role of roles) list.editableList('addItem', { role });
  $('<div class="tenant-broker-form-hint"></div>').text(names.length > 0 ? t('device-form.roles-hint') : t('device-form.no-roles-yet')).appendTo(wrap);
  return () => {
    const out: string[] = [];
    list.editableList('items').each((_, item) => {
      out.push(String($(item).find('select').val() ?? ''));
    });
    return out;
  };
}

/**
 * Adds a device to the tenant (`device` null) or edits one: password,
 * enabled, its ordered roles, the client id it is bound to and its own
 * connection limit; an edit also shows its connections, with a kick.
 */
export function openDeviceForm(view: PanelContext, data: TenantData, device: DeviceJson | null, closed: () => void): void {
  const api = view.nav.api;
  let username!: JQuery;
  let password!: JQuery;
  let enabled!: JQuery;
  let clientId!: JQuery;
  let maxConnections!: JQuery;
  let roles!: () => string[];
  const name = () => (device ? device.username : String(username.val() ?? '').trim());

  openForm({
    title: device ? t('device-form.edit-title', { device: device.username, tenant: data.tenant.username }) : t('device-form.add-title', { tenant: data.tenant.username }),
    width: 560,
    build(form) {
      if (device) {
        const facts = $('<div class="form-row tenant-broker-form-facts"></div>').appendTo(form);
        $('<span></span>').text(device.connections > 0 ? t('sidebar.connected', { count: device.connections }) : t('devices.offline')).appendTo(facts);
        $('<span></span>').text(device.last_seen ? t('devices.last-seen', { when: when(device.last_seen) }) : t('devices.never-seen')).appendTo(facts);
        if (device.connections > 0) {
          button(t('devices.kick'), { icon: 'fa-sign-out', small: true, cls: 'tenant-broker-form-kick' })
            .on('click', (event) => {
              const b = $(event.currentTarget as HTMLElement).prop('disabled', true);
              kickDevice(view, device.username).then(
                () => b.find('span').text(t('devices.kicked-short')),
                (err: Error) => {
                  b.prop('disabled', false);
                  RED.notify(err.message, 'error');
                },
              );
            })
            .appendTo(facts);
        }
      } else {
        username = $('<input type="text" autocomplete="off">');
        formRow(form, `${ID}-username`, t('device-form.username'), username, t('device-form.username-hint'));
      }
      password = $('<input type="password" autocomplete="new-password">');
      formRow(form, `${ID}-password`, device ? t('device-form.new-password') : t('device-form.password'), password, device ? t('device-form.new-password-hint') : undefined);
      enabled = checkboxRow(form, `${ID}-enabled`, t('device-form.enabled'), device ? device.enabled : true);
      roles = rolesList(form, data, device ? device.roles : []);
      clientId = $('<input type="text" autocomplete="off">').val(device?.client_id ?? '').attr('placeholder', t('device-form.any-client-id'));
      formRow(form, `${ID}-client-id`, t('device-form.client-id'), clientId, t('device-form.client-id-hint'));
      maxConnections = $('<input type="text" inputmode="numeric" class="tenant-broker-number">').val(String(device?.max_connections ?? 0));
      formRow(form, `${ID}-max-connections`, t('device-form.max-connections'), maxConnections, t('device-form.max-connections-hint'));
    },
    save: {
      label: device ? t('form.save') : t('form.add'),
      async run() {
        const bound = String(clientId.val() ?? '');
        const fields: Record<string, unknown> = {
          enabled: enabled.prop('checked') === true,
          roles: roles(),
          client_id: bound === '' ? null : bound,
          max_connections: wholeNumber(maxConnections, 0),
        };
        if (!device) {
          await api.addDevice(view.tenant, { username: name(), password: String(password.val() ?? ''), ...fields });
          return;
        }
        const before: Record<string, unknown> = { enabled: device.enabled, roles: device.roles, client_id: device.client_id, max_connections: device.max_connections };
        const patch: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(fields)) if (JSON.stringify(value) !== JSON.stringify(before[key])) patch[key] = value;
        if (password.val()) patch.password = String(password.val());
        if (Object.keys(patch).length > 0) await api.updateDevice(view.tenant, device.username, patch);
      },
    },
    remove: device
      ? {
          label: t('device-form.remove'),
          async run() {
            await api.removeDevice(view.tenant, device.username);
          },
        }
      : undefined,
    closed: () => closed(),
  });
}
