import type { TenantJson } from './api';
import { badge, button, searchBox } from './dom';
import { t } from './i18n';
import type { Navigator, View } from './model';
import { openTenantForm } from './tenant-form';

/** The first view: every tenant of the broker, filtered as you type; a tenant opens its own view. */
export class TenantList implements View {
  readonly el = $('<div class="tenant-broker-view"></div>');
  private readonly summary = $('<div class="tenant-broker-summary"></div>');
  private readonly list = $('<div class="tenant-broker-list" role="list"></div>');
  private filter = '';

  constructor(private readonly nav: Navigator) {
    const toolbar = $('<div class="tenant-broker-toolbar"></div>').appendTo(this.el);
    searchBox(t('sidebar.filter-tenants'), (text) => {
      this.filter = text;
      this.applyFilter();
    }).appendTo(toolbar);
    button(t('sidebar.add-tenant'), { icon: 'fa-plus', small: true, cls: 'tenant-broker-add-tenant' })
      .on('click', () => nav.withForm((done) => openTenantForm(nav, null, (added, outcome) => done(outcome === 'saved' ? () => nav.showTenant(added) : undefined))))
      .appendTo(toolbar);
    this.summary.appendTo(this.el);
    this.list.appendTo(this.el);
  }

  async refresh(): Promise<void> {
    const tenants = await this.nav.api.tenants();
    tenants.sort((a, b) => a.username.localeCompare(b.username));
    const connected = tenants.reduce((n, tenant) => n + (tenant.connections || 0), 0);
    this.summary.text(t('sidebar.tenants-summary', { count: tenants.length, connected }));
    this.list.empty();
    if (tenants.length === 0) $('<div class="tenant-broker-empty"></div>').text(t('sidebar.no-tenants')).appendTo(this.list);
    for (const tenant of tenants) this.row(tenant).appendTo(this.list);
    this.applyFilter();
  }

  private row(tenant: TenantJson): JQuery {
    const row = $('<div class="tenant-broker-row tenant-broker-row-link" role="listitem" tabindex="0"></div>').attr('data-tenant', tenant.username);
    const main = $('<div class="tenant-broker-row-main"></div>').appendTo(row);
    $('<span class="tenant-broker-row-title"></span>').text(tenant.username).attr('title', tenant.username).appendTo(main);
    if (!tenant.enabled) badge(t('sidebar.disabled'), 'off').appendTo(main);
    if (tenant.connections > 0) badge(t('sidebar.connected', { count: tenant.connections }), 'live').appendTo(main);
    $('<i class="fa fa-angle-right tenant-broker-row-chevron"></i>').appendTo(main);
    const details = [t(`isolation-short.${tenant.isolation}`)];
    if (tenant.namespace && tenant.namespace !== tenant.username) details.push(t('sidebar.namespace-is', { namespace: tenant.namespace }));
    $('<div class="tenant-broker-row-sub"></div>').text(details.join(' · ')).appendTo(row);
    row.data('search', `${tenant.username} ${tenant.namespace ?? ''}`.toLowerCase());
    const open = () => this.nav.showTenant(tenant.username);
    row.on('click', open).on('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open();
      }
    });
    return row;
  }

  private applyFilter(): void {
    this.list.children('.tenant-broker-row').each((_, el) => {
      const row = $(el);
      row.toggle(!this.filter || String(row.data('search')).includes(this.filter));
    });
  }
}
