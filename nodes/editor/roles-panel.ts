import type { RoleJson, RuleJson } from './api';
import { badge, button } from './dom';
import { t } from './i18n';
import type { PanelContext, TenantData } from './model';
import { openRoleForm } from './role-form';

/** "allow all #": a rule as one reads it. */
export function ruleText(rule: RuleJson): string {
  const qos = rule.max_qos === undefined ? '' : ' ' + t('rules.qos', { qos: rule.max_qos });
  return `${t(`rules.${rule.permission}`)} ${t(`rules.${rule.action}`)} ${rule.topic}${qos}`;
}

/** The tenant's roles: add, and per role its rules in brief and who uses it; a role opens its form. */
export function rolesPanel(el: JQuery, data: TenantData, view: PanelContext): void {
  const open = (role: RoleJson | null) => view.nav.withForm((done) => openRoleForm(view, data, role, () => done()));
  const toolbar = $('<div class="tenant-broker-toolbar"></div>').appendTo(el);
  $('<span class="tenant-broker-toolbar-text"></span>').text(t('roles.summary', { count: data.roles.length })).appendTo(toolbar);
  button(t('roles.add'), { icon: 'fa-plus', small: true, cls: 'tenant-broker-add-role' }).on('click', () => open(null)).appendTo(toolbar);
  const list = $('<div class="tenant-broker-list" role="list"></div>').appendTo(el);
  if (data.roles.length === 0) $('<div class="tenant-broker-empty"></div>').text(t('roles.none')).appendTo(list);
  for (const role of data.roles) {
    const row = $('<div class="tenant-broker-row tenant-broker-row-link" role="listitem" tabindex="0"></div>').attr('data-role', role.name).appendTo(list);
    const main = $('<div class="tenant-broker-row-main"></div>').appendTo(row);
    $('<span class="tenant-broker-row-title"></span>').text(role.name).attr('title', role.name).appendTo(main);
    badge(t('roles.rules-count', { count: role.rules.length })).appendTo(main);
    const users = role.devices ?? [];
    badge(t('roles.devices-count', { count: users.length })).appendTo(main);
    const sub = $('<div class="tenant-broker-row-sub tenant-broker-rule-summary"></div>').appendTo(row);
    for (const rule of role.rules.slice(0, 3)) $('<div></div>').text(ruleText(rule)).appendTo(sub);
    if (role.rules.length > 3) $('<div></div>').text(t('roles.more-rules', { count: role.rules.length - 3 })).appendTo(sub);
    row.on('click', () => open(role)).on('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open(role);
      }
    });
  }
}
