import type { TenantJson } from './api';
import { checkboxRow, formRow, select } from './dom';
import { choiceLabel, fieldLabel, limitFields, readField, type LimitField } from './fields';
import { t } from './i18n';
import type { Navigator } from './model';
import { openForm, type Outcome } from './tray';

const ID = 'tenant-broker-tenant';

function limitInput(field: LimitField, value: unknown): JQuery {
  switch (field.kind) {
    case 'qos':
      return select(['0', '1', '2'].map((q) => [q, q]), String(value ?? field.fallback)).addClass('tenant-broker-number');
    case 'choice':
      return select((field.choices ?? []).map((c) => [c, choiceLabel(field.column, c)]), String(value ?? field.fallback));
    default:
      return $('<input type="text" inputmode="numeric" class="tenant-broker-number">').val(String(value ?? field.fallback));
  }
}

/**
 * Adds a tenant (`tenant` null) or edits every field of one: password,
 * enabled, isolation, namespace and each limit the runtime declares. An edit
 * sends only what changed, so it never undoes a change made meanwhile
 * elsewhere. `closed` gets the tenant's name and what became of the form.
 */
export function openTenantForm(nav: Navigator, tenant: TenantJson | null, closed: (tenant: string, outcome: Outcome) => void): void {
  const inputs = new Map<string, JQuery>();
  let username!: JQuery;
  let password!: JQuery;
  let enabled!: JQuery;
  let isolation!: JQuery;
  let namespace!: JQuery;
  const fields = limitFields();
  const name = () => (tenant ? tenant.username : String(username.val() ?? '').trim());

  openForm({
    title: tenant ? t('tenant-form.edit-title', { tenant: tenant.username }) : t('tenant-form.add-title'),
    width: 560,
    build(form) {
      if (!tenant) {
        username = $('<input type="text" autocomplete="off">');
        formRow(form, `${ID}-username`, t('tenant-form.username'), username, t('tenant-form.username-hint'));
      }
      password = $('<input type="password" autocomplete="new-password">');
      formRow(form, `${ID}-password`, tenant ? t('tenant-form.new-password') : t('tenant-form.password'), password, tenant ? t('tenant-form.new-password-hint') : undefined);
      enabled = checkboxRow(form, `${ID}-enabled`, t('tenant-form.enabled'), tenant ? tenant.enabled : true);
      isolation = select([
        ['prefix', t('isolation.prefix')],
        ['mountpoint', t('isolation.mountpoint')],
      ], tenant?.isolation ?? String(nav.broker()?.defaultIsolation || 'prefix'));
      formRow(form, `${ID}-isolation`, t('tenant-form.isolation'), isolation);
      namespace = $('<input type="text" autocomplete="off">').val(tenant && tenant.namespace !== tenant.username ? tenant.namespace : '').attr('placeholder', tenant ? tenant.username : t('tenant-form.namespace-placeholder'));
      formRow(form, `${ID}-namespace`, t('tenant-form.namespace'), namespace, t('tenant-form.namespace-hint'));
      if (!tenant) {
        $('<div class="form-tips tenant-broker-form-tip"></div>').text(t('tenant-form.limits-later')).appendTo(form);
        return;
      }
      $('<h4 class="tenant-broker-form-heading"></h4>').text(t('tenant-form.limits')).appendTo(form);
      $('<div class="form-tips tenant-broker-form-tip"></div>').text(t('tenant-form.limits-tip')).appendTo(form);
      for (const field of fields) {
        const id = `${ID}-${field.column}`;
        if (field.kind === 'boolean') {
          inputs.set(field.column, checkboxRow(form, id, fieldLabel(field.column), tenant[field.column] !== false));
        } else {
          const input = limitInput(field, tenant[field.column]);
          inputs.set(field.column, input);
          formRow(form, id, fieldLabel(field.column), input);
        }
      }
    },
    save: {
      label: tenant ? t('form.save') : t('form.add'),
      async run() {
        const body: Record<string, unknown> = {};
        const ns = String(namespace.val() ?? '').trim();
        if (!tenant) {
          Object.assign(body, { username: name(), password: String(password.val() ?? ''), isolation: isolation.val(), enabled: enabled.prop('checked') === true });
          if (ns) body.namespace = ns;
          await nav.api.addTenant(body);
          return;
        }
        if (password.val()) body.password = String(password.val());
        if (enabled.prop('checked') !== tenant.enabled) body.enabled = enabled.prop('checked') === true;
        if (isolation.val() !== tenant.isolation) body.isolation = isolation.val();
        if (tenant.namespace !== undefined && (ns || tenant.username) !== tenant.namespace) body.namespace = ns || tenant.username;
        for (const field of fields) {
          const value = readField(field, inputs.get(field.column)!);
          if (value !== tenant[field.column]) body[field.column] = value;
        }
        if (Object.keys(body).length > 0) await nav.api.updateTenant(tenant.username, body);
      },
    },
    remove: tenant
      ? {
          label: t('tenant-form.remove'),
          async run() {
            await nav.api.removeTenant(tenant.username);
          },
        }
      : undefined,
    closed(outcome) {
      closed(name(), outcome);
    },
  });
}
