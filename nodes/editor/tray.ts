import { message } from './dom';
import { t } from './i18n';
import type { TrayButton } from './red';

export type Outcome = 'saved' | 'removed' | null;

export interface FormSpec {
  title: string;
  width?: number;
  /** Builds the form; `form` is inside the tray's scrolling body. */
  build(form: JQuery): void;
  /** The primary button: its label, and what it does (rejecting shows the error in the form). */
  save: { label: string; run(): Promise<void> };
  /** Shows a failure in place (next to a field); true when it did, so the form's error line stays empty. */
  failed?(message: string): boolean;
  /** A destructive action on the left (Node-RED's place for Delete), asked twice. */
  remove?: { label: string; run(): Promise<void> };
  /** Called once the tray has closed: saved, removed, or left (null). */
  closed(outcome: Outcome): void;
}

export interface OpenForm {
  /** Shows an error at the top of the form (scrolled into view). */
  error(text: string): void;
  clearError(): void;
}

/**
 * An edit tray in Node-RED's manner (Delete on the left, Cancel and the
 * primary action on the right) for a form whose changes go to the running
 * broker at once: the primary button saves and closes, or shows why not.
 */
export function openForm(spec: FormSpec): OpenForm {
  let busy = false;
  let outcome: Outcome = null;
  let form!: JQuery;
  let errorLine!: ReturnType<typeof message>;
  let trayEl!: JQuery;

  const run = (action: () => Promise<void>, done: Exclude<Outcome, null>) => {
    if (busy) return;
    busy = true;
    errorLine.clear();
    trayEl.find('.red-ui-tray-toolbar button').addClass('disabled');
    action().then(
      () => {
        outcome = done;
        RED.tray.close();
      },
      (err: unknown) => {
        busy = false;
        trayEl.find('.red-ui-tray-toolbar button').removeClass('disabled');
        const text = err instanceof Error ? err.message : String(err);
        if (!spec.failed?.(text)) handle.error(text);
      },
    );
  };

  const buttons: TrayButton[] = [];
  if (spec.remove) {
    const remove = spec.remove;
    let armed = false;
    buttons.push({
      id: 'tenant-broker-form-remove',
      text: remove.label,
      class: 'leftButton tenant-broker-danger',
      click: (event) => {
        const b = $(event.currentTarget as HTMLElement);
        if (!armed) {
          armed = true;
          b.text(t('form.confirm-remove'));
          return;
        }
        run(remove.run, 'removed');
      },
    });
  }
  buttons.push({ id: 'tenant-broker-form-cancel', text: t('form.cancel'), click: () => RED.tray.close() });
  buttons.push({ id: 'tenant-broker-form-save', text: spec.save.label, class: 'primary', click: () => run(spec.save.run, 'saved') });

  const handle: OpenForm = {
    error(text) {
      errorLine.show(text);
      errorLine.el[0].scrollIntoView({ block: 'nearest' });
    },
    clearError() {
      errorLine.clear();
    },
  };

  RED.tray.show({
    title: spec.title,
    width: spec.width,
    buttons,
    open(tray) {
      trayEl = tray;
      tray.addClass('tenant-broker-form-tray');
      const body = tray.find('.red-ui-tray-body');
      form = $('<form class="dialog-form form-horizontal tenant-broker-form" autocomplete="off"></form>').appendTo(body);
      form.on('submit', (event) => event.preventDefault());
      errorLine = message(form, 'tenant-broker-message tenant-broker-form-error');
      spec.build(form);
    },
    close() {
      spec.closed(outcome);
    },
  });
  return handle;
}
