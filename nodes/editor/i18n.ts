/**
 * Every text of the editor code comes from the tenant-broker catalog
 * (locales/<lang>/tenant-broker.json, under `tenant-broker.`), through the
 * node type's own translate function, which knows the catalog's namespace.
 */
export function t(key: string, params?: Record<string, string | number>): string {
  const type = RED.nodes.getType('tenant-broker');
  const full = `tenant-broker.${key}`;
  return type ? type._(full, params) : full;
}

/** A date and time as the browser's locale writes it; '' for none. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
