/**
 * The shapes the sidebar's parts share, at the bottom: views, the navigator
 * they move with, and what a panel of a tenant gets. Imports only types.
 */
import type { BrokerApi, ClientJson, DeviceJson, RoleJson, TenantJson } from './api';
import type { EditorNode } from './red';

/** A view of the sidebar: an element, and a way to read the broker again. */
export interface View {
  el: JQuery;
  refresh(): Promise<void>;
}

export type Section = 'devices' | 'roles' | 'clients' | 'connect';

/** How views move around the sidebar and tell it that a form is open. */
export interface Navigator {
  readonly api: BrokerApi;
  /** The broker's node in the editor (its defaults for new tenants). */
  broker(): EditorNode | null;
  showTenants(): void;
  showTenant(tenant: string, section?: Section): void;
  /** Reads the current view again (after a change made through a form). */
  refresh(): void;
  /**
   * Runs `open` unless a form of ours is open already; the sidebar waits
   * until `done`, which reads the view again or, given `then`, runs that.
   */
  withForm(open: (done: (then?: () => void) => void) => void): void;
}

/** What one read of a tenant brings; every panel renders from it. */
export interface TenantData {
  tenant: TenantJson;
  devices: DeviceJson[];
  roles: RoleJson[];
  clients: ClientJson[];
}

/** What a panel of a tenant's view may do. */
export interface PanelContext {
  readonly nav: Navigator;
  readonly tenant: string;
  /** Panel state kept across a refresh (a filter, a chosen login). */
  readonly memory: Map<string, string>;
  /** Reads the tenant again, after a change. */
  reload(): void;
}

/** A panel fills its element from the data. */
export type Panel = (el: JQuery, data: TenantData, context: PanelContext) => void;
