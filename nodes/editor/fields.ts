import { t } from './i18n';

/**
 * A tenant's limits as the runtime declares them (LIMIT_FIELDS in
 * src/registry/limits.ts), exported to the editor as the node setting
 * `tenantBrokerLimitFields` (nodes/tenant-broker.ts): a limit added there
 * appears in the tenant form by itself, labelled from the catalog.
 */
export interface LimitField {
  column: string;
  kind: 'count' | 'qos' | 'boolean' | 'choice';
  fallback: number | boolean | string;
  choices?: string[];
}

export function limitFields(): LimitField[] {
  const fields = RED.settings.tenantBrokerLimitFields;
  return Array.isArray(fields) ? (fields as LimitField[]) : [];
}

/** The label of a tenant field: `fields.<json name>` in the catalog. */
export function fieldLabel(column: string): string {
  return t(`fields.${column}`);
}

export function choiceLabel(column: string, choice: string): string {
  return t(`choices.${column}.${choice}`);
}

/** A field's value read back from its input, in the JSON type the API wants. */
export function readField(field: LimitField, input: JQuery): number | boolean | string {
  if (field.kind === 'boolean') return input.prop('checked') === true;
  if (field.kind === 'choice') return String(input.val());
  return wholeNumber(input, Number(field.fallback));
}

/** A whole number typed in a text field; anything else goes as typed, so the server's refusal names the field. */
export function wholeNumber(input: JQuery, blank: number): number | string {
  const text = String(input.val() ?? '').trim();
  if (text === '') return blank;
  return /^\d+$/.test(text) ? Number(text) : text;
}
