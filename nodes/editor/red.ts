/**
 * The parts of Node-RED's editor (the browser's `RED` and jQuery widgets)
 * this package uses, typed as Node-RED 4 and 5 provide them. The published
 * typings (@types/node-red__editor-client) describe Node-RED 1.3, so the
 * few calls made here are declared here, once.
 */

export type Translate = (key: string, params?: Record<string, string | number>) => string;

export interface EditorNodeDefaults {
  [field: string]: { value?: unknown; type?: string };
}

export interface EditorNodeDef {
  _: Translate;
  defaults: EditorNodeDefaults;
}

/** A node as the editor holds it (config nodes included). */
export interface EditorNode {
  id: string;
  type: string;
  name?: string;
  _def: EditorNodeDef;
  _: Translate;
  [field: string]: unknown;
}

export interface TabsInstance {
  addTab(tab: { id: string; label: string; iconClass?: string }): void;
  activateTab(id: string): void;
  renameTab(id: string, label: string): void;
  resize(): void;
}

export interface TrayButton {
  id?: string;
  text: string;
  class?: string;
  click: (event: JQuery.ClickEvent) => void;
}

export interface TrayOptions {
  title: string;
  width?: number;
  buttons: TrayButton[];
  /** Builds the tray's content; `tray` is the tray element (its body is `.red-ui-tray-body`). */
  open: (tray: JQuery) => void;
  resize?: (size: { width: number; height?: number }) => void;
  close?: () => void;
  focusElement?: false | string | JQuery;
}

export interface EditorRed {
  _: Translate;
  nodes: {
    getType(type: string): EditorNodeDef | null;
    eachConfig(callback: (node: EditorNode) => boolean | void): void;
    node(id: string): EditorNode | null;
  };
  sidebar: {
    addTab(tab: { id: string; label: string; name: string; iconClass: string; content: HTMLElement; toolbar?: HTMLElement; action?: string; enableOnEdit?: boolean; onchange?: () => void }): void;
    show(id: string): void;
    containsTab(id: string): boolean;
    help: { show(type: string): void };
  };
  tabs: { create(options: { element: JQuery; onchange: (tab: { id: string }) => void; scrollable?: boolean }): TabsInstance };
  tray: { show(options: TrayOptions): void; close(done?: () => void): void };
  clipboard: { copyText(value: string, element: JQuery | HTMLElement, message: string): boolean };
  popover: { tooltip(target: JQuery, content: string): void };
  notify(message: string, type?: 'error' | 'warning' | 'success' | 'compact'): void;
  events: { on(event: string, handler: (...args: unknown[]) => void): void };
  actions: { add(name: string, handler: () => void): void };
  settings: Record<string, unknown>;
}

export interface EditableListOptions<T> {
  addButton?: boolean | string;
  removable?: boolean;
  sortable?: boolean | string;
  height?: number | 'auto';
  header?: JQuery;
  addItem: (row: JQuery, index: number, data: T) => void;
  removeItem?: (data: T) => void;
}

declare global {
  const RED: EditorRed;
  interface JQuery {
    editableList<T>(options: EditableListOptions<T>): JQuery;
    editableList(method: 'addItem', data: unknown): JQuery;
    editableList(method: 'empty'): JQuery;
    editableList(method: 'items'): JQuery;
    editableList(method: 'height' | 'width', value: number): JQuery;
  }
}
