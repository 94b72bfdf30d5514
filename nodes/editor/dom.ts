/**
 * Small builders for the sidebar and the forms. Text always goes in as text
 * (`.text()`, `.val()`, attributes): client ids, subscriptions and names come
 * from devices and users, never from us.
 */

export function button(label: string, options: { icon?: string; small?: boolean; primary?: boolean; title?: string; cls?: string } = {}): JQuery<HTMLButtonElement> {
  const b = $<HTMLButtonElement>('<button type="button" class="red-ui-button"></button>');
  if (options.small) b.addClass('red-ui-button-small');
  if (options.primary) b.addClass('primary');
  if (options.cls) b.addClass(options.cls);
  if (options.icon) $('<i>').addClass(`fa ${options.icon}`).appendTo(b);
  if (options.icon && label) b.append(document.createTextNode(' '));
  if (label) $('<span>').text(label).appendTo(b);
  if (options.title) {
    b.attr('aria-label', options.title);
    RED.popover.tooltip(b, options.title);
  }
  return b;
}

/** A labelled form row in Node-RED's style; `field` goes after the label. */
export function formRow(parent: JQuery, id: string, label: string, field: JQuery, hint?: string): JQuery {
  const row = $('<div class="form-row tenant-broker-form-row"></div>').appendTo(parent);
  $('<label>').attr('for', id).text(label).appendTo(row);
  field.attr('id', id).appendTo(row);
  if (hint) $('<div class="tenant-broker-form-hint"></div>').text(hint).appendTo(row);
  return row;
}

/** A checkbox row: the box, then its label, as Node-RED's own forms have them. */
export function checkboxRow(parent: JQuery, id: string, label: string, checked: boolean): JQuery<HTMLInputElement> {
  const row = $('<div class="form-row tenant-broker-form-row"></div>').appendTo(parent);
  $('<label class="tenant-broker-form-spacer"></label>').appendTo(row);
  const box = $<HTMLInputElement>('<input type="checkbox" class="tenant-broker-checkbox">').attr('id', id).prop('checked', checked);
  const label2 = $('<label class="tenant-broker-checkbox-label"></label>').attr('for', id);
  label2.append(box).append(document.createTextNode(' ' + label)).appendTo(row);
  return box;
}

export function select(options: Array<[value: string, label: string]>, value?: string): JQuery<HTMLSelectElement> {
  const s = $<HTMLSelectElement>('<select></select>');
  for (const [v, label] of options) $('<option>').val(v).text(label).appendTo(s);
  if (value !== undefined) s.val(value);
  return s;
}

/** A message line: an error (red) or a note. */
export function message(parent: JQuery, cls = 'tenant-broker-message'): { show(text: string, kind?: 'error' | 'note'): void; clear(): void; el: JQuery } {
  const el = $('<div></div>').addClass(cls).hide().appendTo(parent);
  return {
    el,
    show(text, kind = 'error') {
      el.text(text).toggleClass('tenant-broker-error', kind === 'error').show();
    },
    clear() {
      el.text('').hide();
    },
  };
}

/** "3 connected", "disabled", …: a compact badge. */
export function badge(text: string, kind: 'live' | 'off' | 'plain' = 'plain'): JQuery {
  // a long one ends in an ellipsis: the whole text stays on hover
  return $('<span class="tenant-broker-badge"></span>').addClass(`tenant-broker-badge-${kind}`).text(text).attr('title', text);
}

/** A filter box: calls `onInput` with the lowercased text as it is typed. */
export function searchBox(placeholder: string, onInput: (text: string) => void): JQuery<HTMLInputElement> {
  const input = $<HTMLInputElement>('<input type="search" class="tenant-broker-search">').attr('placeholder', placeholder).attr('aria-label', placeholder);
  input.on('input change', () => onInput(String(input.val() ?? '').trim().toLowerCase()));
  return input;
}
