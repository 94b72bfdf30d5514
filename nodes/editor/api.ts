/**
 * The editor's HTTP contract with a deployed tenant-broker (Node-RED admin
 * routes, permission-checked, served by nodes/shared/admin-routes.ts): the
 * same JSON as the tenant-admin API. Every call resolves with the parsed
 * body or rejects with an ApiError carrying the server's message.
 */

export interface TenantJson {
  username: string;
  namespace: string;
  isolation: 'prefix' | 'mountpoint';
  enabled: boolean;
  connections: number;
  created_at: string;
  updated_at: string;
  /** Every limit of LIMIT_FIELDS, by its column name. */
  [limit: string]: unknown;
}

export interface DeviceJson {
  tenant: string;
  username: string;
  enabled: boolean;
  roles: string[];
  client_id: string | null;
  max_connections: number;
  connections: number;
  last_seen: string | null;
  created_at: string;
  updated_at: string;
}

export interface RuleJson {
  permission: 'allow' | 'deny';
  action: 'publish' | 'subscribe' | 'all';
  topic: string;
  max_qos?: 0 | 1 | 2;
}

export interface RoleJson {
  tenant: string;
  name: string;
  rules: RuleJson[];
  devices: string[];
}

export interface ClientJson {
  client_id: string;
  login: string;
  /** Who admitted it: registry, certificate, jwt, http or flow. */
  provider?: string;
  transport: string;
  address: string | null;
  connected_since: string;
  subscriptions: string[];
  messages_in: number;
  messages_out: number;
}

export interface ConnectionInfo {
  host: string | null;
  mqtt_port: number | null;
  ws_port: number | null;
  ws_path: string | null;
  tls: boolean;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

function call<T>(method: Method, url: string, body?: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    $.ajax({ method, url, contentType: 'application/json', data: body === undefined ? undefined : JSON.stringify(body), dataType: 'json', cache: false })
      .done((data: T) => resolve(data))
      .fail((xhr: JQuery.jqXHR) => {
        const json = xhr.responseJSON as { error?: unknown } | undefined;
        const message = typeof json?.error === 'string' ? json.error : xhr.statusText || `HTTP ${xhr.status}`;
        reject(new ApiError(message, xhr.status));
      });
  });
}

const part = encodeURIComponent;

/** One deployed broker's tenants, devices, roles and live clients. */
export class BrokerApi {
  private readonly base: string;

  constructor(readonly brokerId: string) {
    // relative: Node-RED's admin root may be anywhere
    this.base = `tenant-broker/${part(brokerId)}`;
  }

  private tenant(name: string): string {
    return `${this.base}/tenants/${part(name)}`;
  }

  async tenants(): Promise<TenantJson[]> {
    return (await call<{ tenants: TenantJson[] }>('GET', `${this.base}/tenants`)).tenants;
  }

  addTenant(body: Record<string, unknown>): Promise<unknown> {
    return call('POST', `${this.base}/tenants`, body);
  }

  updateTenant(tenant: string, patch: Record<string, unknown>): Promise<unknown> {
    return call('PUT', this.tenant(tenant), patch);
  }

  removeTenant(tenant: string): Promise<unknown> {
    return call('DELETE', this.tenant(tenant));
  }

  async devices(tenant: string): Promise<DeviceJson[]> {
    return (await call<{ devices: DeviceJson[] }>('GET', `${this.tenant(tenant)}/devices`)).devices;
  }

  addDevice(tenant: string, body: Record<string, unknown>): Promise<unknown> {
    return call('POST', `${this.tenant(tenant)}/devices`, body);
  }

  updateDevice(tenant: string, username: string, patch: Record<string, unknown>): Promise<unknown> {
    return call('PUT', `${this.tenant(tenant)}/devices/${part(username)}`, patch);
  }

  removeDevice(tenant: string, username: string): Promise<unknown> {
    return call('DELETE', `${this.tenant(tenant)}/devices/${part(username)}`);
  }

  async kickDevice(tenant: string, username: string): Promise<number> {
    return (await call<{ kicked: number }>('POST', `${this.tenant(tenant)}/devices/${part(username)}/kick`, {})).kicked;
  }

  async roles(tenant: string): Promise<RoleJson[]> {
    return (await call<{ roles: RoleJson[] }>('GET', `${this.tenant(tenant)}/roles`)).roles;
  }

  addRole(tenant: string, name: string, rules: RuleJson[]): Promise<unknown> {
    return call('POST', `${this.tenant(tenant)}/roles`, { name, rules });
  }

  updateRole(tenant: string, name: string, rules: RuleJson[]): Promise<unknown> {
    return call('PUT', `${this.tenant(tenant)}/roles/${part(name)}`, { rules });
  }

  removeRole(tenant: string, name: string): Promise<unknown> {
    return call('DELETE', `${this.tenant(tenant)}/roles/${part(name)}`);
  }

  async clients(tenant: string): Promise<ClientJson[]> {
    return (await call<{ clients: ClientJson[] }>('GET', `${this.tenant(tenant)}/clients`)).clients;
  }

  async kickClient(tenant: string, clientId: string): Promise<number> {
    return (await call<{ kicked: number }>('POST', `${this.tenant(tenant)}/clients/kick`, { client_id: clientId })).kicked;
  }

  connectionInfo(): Promise<ConnectionInfo> {
    return call<ConnectionInfo>('GET', `${this.base}/connection-info`);
  }
}
