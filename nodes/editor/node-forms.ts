import type { TenantJson } from './api';
import type { EditorNode } from './red';

/**
 * Helpers every node's dialog of this package uses (tenant-in, tenant-out,
 * tenant-webhook, tenant-admin and the broker itself).
 */

/**
 * A field the node lacks (an example, or a flow of an earlier version) shows
 * its default, so that saving writes the default rather than a blank or an
 * unticked box; nodes/shared/defaults.ts does the same at run time.
 */
export function applyDefaults(node: EditorNode, prefix: string): void {
  const defaults = node._def.defaults;
  for (const key of Object.keys(defaults)) {
    if (defaults[key].type || (node[key] !== undefined && node[key] !== null)) continue;
    const input = $(`#${prefix}-${key}`);
    if (input.attr('type') === 'checkbox') input.prop('checked', defaults[key].value === true);
    else input.val(defaults[key].value as string);
  }
}

/**
 * Offers the chosen broker's tenants in the dialog's datalist while leaving
 * the field free (a tenant may come later).
 */
export function offerTenants(allTenants: boolean): void {
  const list = $('#node-input-tenant-choices');
  function load() {
    const broker = String($('#node-input-broker').val() ?? '');
    list.empty();
    if (allTenants) $('<option value="*">').appendTo(list);
    if (!broker || broker === '_ADD_') return;
    $.getJSON(`tenant-broker/${encodeURIComponent(broker)}/tenants`).done((data: { tenants: TenantJson[] }) => {
      for (const tenant of data.tenants) $('<option>').attr('value', tenant.username).appendTo(list);
    });
  }
  $('#node-input-broker').on('change', load);
  load();
}
