import { BrokerApi } from './api';
import { button, message } from './dom';
import { t } from './i18n';
import type { Navigator, Section, View } from './model';
import type { EditorNode } from './red';
import { TenantList } from './tenant-list';
import { TenantView } from './tenant-view';

export const SIDEBAR_ID = 'tenant-broker-tenants';

function brokers(): EditorNode[] {
  const found: EditorNode[] = [];
  RED.nodes.eachConfig((node) => {
    if (node.type === 'tenant-broker') found.push(node);
  });
  return found.sort((a, b) => brokerLabel(a).localeCompare(brokerLabel(b)));
}

function brokerLabel(node: EditorNode): string {
  return node.name || t('node-label', { port: String(node.tcpPort ?? '1883') });
}

/**
 * The Tenants sidebar: the deployed brokers' tenants, and per tenant its
 * devices, roles, live clients and connection details. Changes go to the
 * running broker at once, through the broker's admin routes; forms open as
 * trays, as Node-RED's own edit dialogs do.
 */
class TenantsSidebar implements Navigator {
  readonly content = $('<div class="tenant-broker-sidebar"></div>');
  private readonly brokerSelect = $<HTMLSelectElement>('<select class="tenant-broker-broker-select"></select>');
  private readonly body = $('<div class="tenant-broker-sidebar-body"></div>');
  private readonly shade = $('<div class="tenant-broker-sidebar-shade"></div>');
  private readonly notice: ReturnType<typeof message>;
  private brokerId: string | null = null;
  private view: View | null = null;
  private formOpen = false;
  api: BrokerApi = new BrokerApi('');

  constructor() {
    const header = $('<div class="red-ui-sidebar-header tenant-broker-sidebar-header"></div>').appendTo(this.content);
    $('<label class="tenant-broker-broker-label"></label>').attr('for', 'tenant-broker-sidebar-broker').text(t('sidebar.broker')).appendTo(header);
    this.brokerSelect.attr('id', 'tenant-broker-sidebar-broker').appendTo(header);
    this.brokerSelect.on('change', () => this.chooseBroker(String(this.brokerSelect.val() ?? '')));
    button('', { icon: 'fa-refresh', small: true, title: t('sidebar.refresh'), cls: 'tenant-broker-refresh' }).on('click', () => this.refresh()).appendTo(header);
    button('', { icon: 'fa-book', small: true, title: t('sidebar.help') }).on('click', () => RED.sidebar.help.show('tenant-broker')).appendTo(header);
    this.notice = message(this.content, 'tenant-broker-message tenant-broker-sidebar-notice');
    this.body.appendTo(this.content);
    this.shade.hide().appendTo(this.content);
  }

  /** The broker list follows the flows: brokers added, renamed, removed or deployed. True when it showed another broker. */
  brokersChanged(): boolean {
    const list = brokers();
    const keep = list.some((b) => b.id === this.brokerId) ? this.brokerId : (list[0]?.id ?? null);
    this.brokerSelect.empty();
    for (const node of list) $('<option>').val(node.id).text(brokerLabel(node)).appendTo(this.brokerSelect);
    this.brokerSelect.closest('.tenant-broker-sidebar-header').toggleClass('tenant-broker-single-broker', list.length < 2);
    if (keep === null) {
      this.brokerId = null;
      this.view = null;
      this.body.empty();
      this.notice.show(t('sidebar.no-broker'), 'note');
      return true;
    }
    this.brokerSelect.val(keep);
    if (keep === this.brokerId) return false;
    this.chooseBroker(keep);
    return true;
  }

  /** Shows a broker's tenants, if the editor has that broker. */
  selectBroker(id: string): void {
    if (id === this.brokerId || this.brokerSelect.find('option').filter((_, o) => (o as HTMLOptionElement).value === id).length === 0) return;
    this.brokerSelect.val(id);
    this.chooseBroker(id);
  }

  private chooseBroker(id: string): void {
    this.brokerId = id;
    this.api = new BrokerApi(id);
    this.showTenants();
  }

  private show(view: View): void {
    this.view = view;
    this.body.empty().append(view.el);
    this.refresh();
  }

  broker(): EditorNode | null {
    return this.brokerId ? RED.nodes.node(this.brokerId) : null;
  }

  showTenants(): void {
    this.show(new TenantList(this));
  }

  showTenant(tenant: string, section: Section = 'devices'): void {
    this.show(new TenantView(this, tenant, section));
  }

  refresh(): void {
    const view = this.view;
    if (!view) return;
    this.notice.clear();
    view.refresh().catch((err: unknown) => {
      if (this.view === view) this.notice.show(err instanceof Error ? err.message : String(err));
    });
  }

  withForm(open: (done: (then?: () => void) => void) => void): void {
    if (this.formOpen) return;
    this.formOpen = true;
    this.shade.show();
    open((then) => {
      this.formOpen = false;
      this.shade.hide();
      if (then) then();
      else this.refresh();
    });
  }
}

let sidebar: TenantsSidebar | null = null;

/** Adds the Tenants tab to Node-RED's sidebar (once), built when first shown. */
export function addSidebar(): void {
  if (RED.sidebar.containsTab(SIDEBAR_ID)) return;
  const holder = $('<div class="tenant-broker-sidebar-holder"></div>');
  const ensure = () => {
    if (!sidebar) {
      sidebar = new TenantsSidebar();
      holder.append(sidebar.content);
    }
    return sidebar;
  };
  RED.sidebar.addTab({
    id: SIDEBAR_ID,
    label: t('sidebar.label'),
    name: t('sidebar.name'),
    iconClass: 'fa fa-users',
    content: holder[0],
    action: 'tenant-broker:show-tenants-tab',
    // usable next to an open edit dialog (say, to look a tenant up)
    enableOnEdit: true,
    onchange: () => {
      const s = ensure();
      if (!s.brokersChanged()) s.refresh();
    },
  });
  RED.actions.add('tenant-broker:show-tenants-tab', () => RED.sidebar.show(SIDEBAR_ID));
  const brokersChanged = (node?: unknown) => {
    if (sidebar && (node === undefined || (node as EditorNode).type === 'tenant-broker')) sidebar.brokersChanged();
  };
  RED.events.on('nodes:add', brokersChanged);
  RED.events.on('nodes:remove', brokersChanged);
  RED.events.on('nodes:change', brokersChanged);
  // a deploy may have started (or stopped) a broker: read again
  RED.events.on('deploy', () => {
    if (sidebar && !sidebar.brokersChanged()) sidebar.refresh();
  });
}

/** Shows the sidebar on one broker's tenants (the broker dialog's Tenants tab points here). */
export function showBrokerInSidebar(brokerId: string): void {
  RED.sidebar.show(SIDEBAR_ID);
  sidebar?.selectBroker(brokerId);
}
