import type { TenantJson } from './api';
import { button } from './dom';
import { t } from './i18n';
import { applyDefaults } from './node-forms';
import type { EditorNode } from './red';
import { showBrokerInSidebar } from './sidebar';

/** The Tenants tab of the broker's dialog: where tenants are now, and how many there are. */
function tenantsTab(node: EditorNode): void {
  const tab = $('#tenant-broker-tab-tenants');
  const summary = tab.find('#node-config-tenant-broker-tenants-summary');
  button(t('tenants.open-sidebar'), { icon: 'fa-users', cls: 'tenant-broker-open-sidebar' })
    .attr('id', 'node-config-tenant-broker-open-sidebar')
    .on('click', () => showBrokerInSidebar(node.id))
    .appendTo(tab.find('#node-config-tenant-broker-open-sidebar-row'));
  $.getJSON(`tenant-broker/${encodeURIComponent(node.id)}/tenants`)
    .done((data: { tenants: TenantJson[] }) => {
      const connected = data.tenants.reduce((n, x) => n + (x.connections || 0), 0);
      summary.text(t('sidebar.tenants-summary', { count: data.tenants.length, connected }));
    })
    .fail((xhr: JQuery.jqXHR) => {
      const json = xhr.responseJSON as { error?: string } | undefined;
      summary.text(t('tenants.unavailable', { reason: json?.error ?? xhr.statusText }));
    });
}

/** oneditprepare of the tenant-broker config node. */
export function prepareBrokerDialog(node: EditorNode): void {
  applyDefaults(node, 'node-config-input');
  // the dialog of 0.1.0 saved a missing "Allow retained messages" as false and left "Highest QoS" out:
  // a retain flag without a QoS was never chosen (nodes/shared/defaults.ts agrees)
  if (node.defaultAllowRetain === false && (node.defaultMaxQos === undefined || node.defaultMaxQos === null || node.defaultMaxQos === '')) {
    $('#node-config-input-defaultAllowRetain').prop('checked', true);
  }
  const tabs = RED.tabs.create({
    element: $('#node-config-tenant-broker-tabs'),
    onchange(tab) {
      $('#node-config-tenant-broker-tabs-content').children().hide();
      $('#' + tab.id).show();
    },
  });
  for (const id of ['connection', 'security', 'authentication', 'limits', 'storage', 'tenants']) tabs.addTab({ id: `tenant-broker-tab-${id}`, label: t(`tabs.${id}`) });

  const toggleTls = () => $('.tenant-broker-tls-row').toggle($('#node-config-input-tls').prop('checked') === true);
  const toggleWs = () => $('.tenant-broker-ws-row').toggle($('#node-config-input-wsEnabled').prop('checked') === true);
  $('#node-config-input-tls').on('change', toggleTls);
  $('#node-config-input-wsEnabled').on('change', toggleWs);
  toggleTls();
  toggleWs();
  tenantsTab(node);
}
