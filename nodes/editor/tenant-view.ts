import { ApiError, type TenantJson } from './api';
import { clientsPanel } from './clients-panel';
import { connectPanel } from './connect-panel';
import { devicesPanel } from './devices-panel';
import { badge, button } from './dom';
import { t } from './i18n';
import { rolesPanel } from './roles-panel';
import type { Navigator, Panel, PanelContext, Section, TenantData, View } from './model';
import { openTenantForm } from './tenant-form';

const SECTIONS: Section[] = ['devices', 'roles', 'clients', 'connect'];

const PANELS: Record<Section, Panel> = { devices: devicesPanel, roles: rolesPanel, clients: clientsPanel, connect: connectPanel };

/**
 * One tenant: a header (back, name, edit), what it is in one line, and its
 * devices, roles, live clients and connection details, one at a time.
 */
export class TenantView implements View, PanelContext {
  readonly el = $('<div class="tenant-broker-view tenant-broker-tenant-view"></div>');
  private readonly title = $('<span class="tenant-broker-view-title"></span>');
  private readonly facts = $('<div class="tenant-broker-facts"></div>');
  private readonly switcher = $('<div class="tenant-broker-sections button-group" role="tablist"></div>');
  private readonly panel = $('<div class="tenant-broker-panel"></div>');
  private data: TenantData | null = null;
  readonly memory = new Map<string, string>();

  constructor(
    readonly nav: Navigator,
    readonly tenant: string,
    private section: Section,
  ) {
    const head = $('<div class="tenant-broker-view-head"></div>').appendTo(this.el);
    button('', { icon: 'fa-angle-left', small: true, title: t('sidebar.back'), cls: 'tenant-broker-back' }).on('click', () => nav.showTenants()).appendTo(head);
    this.title.text(tenant).attr('title', tenant).appendTo(head);
    button(t('sidebar.edit-tenant'), { icon: 'fa-pencil', small: true, cls: 'tenant-broker-edit-tenant' }).on('click', () => this.editTenant()).appendTo(head);
    this.facts.appendTo(this.el);
    for (const section of SECTIONS) {
      $('<a href="#" class="red-ui-sidebar-header-button-toggle tenant-broker-section" role="tab"></a>')
        .attr('data-section', section)
        .on('click', (event) => {
          event.preventDefault();
          this.show(section);
        })
        .appendTo(this.switcher);
    }
    $('<div class="tenant-broker-sections-row"></div>').append(this.switcher).appendTo(this.el);
    this.panel.appendTo(this.el);
  }

  async refresh(): Promise<void> {
    const api = this.nav.api;
    const [tenants, devices, roles, clients] = await Promise.all([api.tenants(), api.devices(this.tenant), api.roles(this.tenant), api.clients(this.tenant)]).catch((err: unknown) => {
      // the tenant is gone (removed elsewhere): back to the list, which says what there is
      if (err instanceof ApiError && err.status === 404) this.nav.showTenants();
      throw err;
    });
    const tenant = tenants.find((x) => x.username === this.tenant);
    if (!tenant) {
      this.nav.showTenants();
      return;
    }
    devices.sort((a, b) => a.username.localeCompare(b.username));
    roles.sort((a, b) => a.name.localeCompare(b.name));
    this.data = { tenant, devices, roles, clients };
    this.renderHead(tenant);
    this.render();
  }

  private renderHead(tenant: TenantJson): void {
    this.facts.empty();
    $('<span></span>').text(t(`isolation-short.${tenant.isolation}`)).appendTo(this.facts);
    $('<span></span>').text(t('sidebar.namespace-is', { namespace: tenant.namespace ?? tenant.username })).appendTo(this.facts);
    if (!tenant.enabled) badge(t('sidebar.disabled'), 'off').appendTo(this.facts);
  }

  private render(): void {
    const data = this.data;
    if (!data) return;
    this.switcher.children().each((_, el) => {
      const link = $(el);
      const section = link.attr('data-section') as Section;
      link.text(t(`sections.${section}`));
      link.toggleClass('selected', section === this.section).attr('aria-selected', String(section === this.section));
    });
    this.panel.empty().attr('data-section', this.section);
    PANELS[this.section](this.panel, data, this);
  }

  show(section: Section): void {
    this.section = section;
    this.render();
  }

  /** Reads the tenant again; panels call it after they changed something. */
  reload(): void {
    this.nav.refresh();
  }

  private editTenant(): void {
    const tenant = this.data?.tenant;
    if (!tenant) return;
    this.nav.withForm((done) => openTenantForm(this.nav, tenant, (_name, outcome) => done(outcome === 'removed' ? () => this.nav.showTenants() : undefined)));
  }
}
