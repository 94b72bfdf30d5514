import type { RoleJson, RuleJson } from './api';
import { formRow, select } from './dom';
import { t } from './i18n';
import type { PanelContext, TenantData } from './model';
import { openForm } from './tray';

const ID = 'tenant-broker-role';

/** "rule 3: …" in the server's refusal names the rule (counted from 1). */
export function ruleNumber(message: string): number | null {
  const match = /\brule (\d+)\b/i.exec(message);
  return match ? Number(match[1]) : null;
}

/** One rule's row: permission, action, topic, highest QoS, and a line for its error. */
function ruleRow(item: JQuery, rule: Partial<RuleJson>): void {
  item.addClass('tenant-broker-rule');
  const fields = $('<div class="tenant-broker-rule-fields"></div>').appendTo(item);
  const permission = select([
    ['allow', t('rules.allow')],
    ['deny', t('rules.deny')],
  ], rule.permission ?? 'allow').addClass('tenant-broker-rule-permission').attr('aria-label', t('rules.permission')).appendTo(fields);
  select([
    ['all', t('rules.all')],
    ['publish', t('rules.publish')],
    ['subscribe', t('rules.subscribe')],
  ], rule.action ?? 'all').addClass('tenant-broker-rule-action').attr('aria-label', t('rules.action')).appendTo(fields);
  $('<input type="text" class="tenant-broker-rule-topic" autocomplete="off">').val(rule.topic ?? '').attr('placeholder', t('rules.topic-placeholder')).attr('aria-label', t('rules.topic')).appendTo(fields);
  const qos = select([
    ['', t('rules.any-qos')],
    ['0', t('rules.qos', { qos: 0 })],
    ['1', t('rules.qos', { qos: 1 })],
    ['2', t('rules.qos', { qos: 2 })],
  ], rule.max_qos === undefined ? '' : String(rule.max_qos)).addClass('tenant-broker-rule-qos').attr('aria-label', t('rules.max-qos')).appendTo(fields);
  // a highest QoS belongs on an allow rule only
  const follow = () => {
    const deny = permission.val() === 'deny';
    if (deny) qos.val('');
    qos.prop('disabled', deny);
  };
  permission.on('change', follow);
  follow();
  $('<div class="tenant-broker-rule-error" role="alert"></div>').hide().appendTo(item);
  item.find('input, select').on('input change', () => item.removeClass('tenant-broker-rule-invalid').find('.tenant-broker-rule-error').text('').hide());
}

function readRule(item: JQuery): RuleJson {
  const rule: RuleJson = {
    permission: item.find('.tenant-broker-rule-permission').val() as RuleJson['permission'],
    action: item.find('.tenant-broker-rule-action').val() as RuleJson['action'],
    topic: String(item.find('.tenant-broker-rule-topic').val() ?? ''),
  };
  const qos = String(item.find('.tenant-broker-rule-qos').val() ?? '');
  if (qos !== '') rule.max_qos = Number(qos) as 0 | 1 | 2;
  return rule;
}

/**
 * Adds a role (`role` null) or edits one: its rules as an ordered list
 * (first match wins; drag to reorder), a refused rule marked in place.
 */
export function openRoleForm(view: PanelContext, data: TenantData, role: RoleJson | null, closed: () => void): void {
  const api = view.nav.api;
  let name!: JQuery;
  let list!: JQuery;

  const rules = (): RuleJson[] => {
    const out: RuleJson[] = [];
    list.editableList('items').each((_, item) => {
      out.push(readRule($(item)));
    });
    return out;
  };

  openForm({
    title: role ? t('role-form.edit-title', { role: role.name, tenant: data.tenant.username }) : t('role-form.add-title', { tenant: data.tenant.username }),
    width: 700,
    build(form) {
      if (role) {
        const users = [...(role.devices ?? [])].sort((a, b) => a.localeCompare(b));
        $('<div class="form-row tenant-broker-form-facts"></div>')
          .text(users.length === 0 ? t('role-form.unused') : t('role-form.used-by', { count: users.length, devices: users.slice(0, 10).join(', ') + (users.length > 10 ? ', …' : '') }))
          .appendTo(form);
      } else {
        name = $('<input type="text" autocomplete="off">');
        formRow(form, `${ID}-name`, t('role-form.name'), name, t('role-form.name-hint'));
      }
      $('<div class="form-tips tenant-broker-form-tip"></div>')
        .text(t('role-form.tip', { namespace: data.tenant.namespace ?? data.tenant.username, access: t(`choices.device_default_access.${String(data.tenant.device_default_access ?? 'allow')}`) }))
        .appendTo(form);
      const header = $('<div class="tenant-broker-rule-header"></div>');
      for (const column of ['permission', 'action', 'topic', 'max-qos']) $('<span></span>').addClass(`tenant-broker-rule-col-${column}`).text(t(`rules.${column}`)).appendTo(header);
      const wrap = $('<div class="form-row tenant-broker-rules-row"></div>').appendTo(form);
      $('<label class="tenant-broker-rules-label"></label>').text(t('role-form.rules')).appendTo(wrap);
      list = $('<ol class="tenant-broker-rules"></ol>').appendTo(wrap);
      list.editableList<Partial<RuleJson>>({
        addButton: t('role-form.add-rule'),
        header,
        sortable: true,
        removable: true,
        height: 'auto',
        addItem(item, _index, rule) {
          ruleRow(item, rule);
        },
      });
      for (const rule of role?.rules ?? []) list.editableList('addItem', rule);
      if (!role) list.editableList('addItem', { permission: 'allow', action: 'all', topic: '#' });
    },
    failed(message) {
      const n = ruleNumber(message);
      const items = list.editableList('items');
      if (n === null || n < 1 || n > items.length) return false;
      const item = $(items[n - 1]);
      item.addClass('tenant-broker-rule-invalid');
      item.find('.tenant-broker-rule-error').text(message).show();
      item[0].scrollIntoView({ block: 'nearest' });
      return true;
    },
    save: {
      label: role ? t('form.save') : t('form.add'),
      async run() {
        if (role) await api.updateRole(view.tenant, role.name, rules());
        else await api.addRole(view.tenant, String(name.val() ?? '').trim(), rules());
      },
    },
    remove: role
      ? {
          label: t('role-form.remove'),
          async run() {
            await api.removeRole(view.tenant, role.name);
          },
        }
      : undefined,
    closed: () => closed(),
  });
}
