/**
 * The editor code of the tenant-broker node and of the package's Tenants
 * sidebar, bundled by build.mjs into one script inlined in
 * tenant-broker.html, ahead of its registerType. The other nodes' dialogs
 * use `window.tenantBrokerEditor` too.
 */
import { prepareBrokerDialog } from './editor/broker-dialog';
import { applyDefaults, offerTenants } from './editor/node-forms';
import { addSidebar } from './editor/sidebar';

const editor = { applyDefaults, offerTenants, prepareBrokerDialog, addSidebar };

declare global {
  interface Window {
    tenantBrokerEditor: typeof editor;
  }
}

window.tenantBrokerEditor = editor;
