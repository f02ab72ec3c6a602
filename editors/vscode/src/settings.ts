// Maps the `switchboard.*` VS Code settings to the server's configuration schema (the same shape as
// config.toml): sent as initializationOptions and with workspace/didChangeConfiguration.
import * as vscode from 'vscode';

/** Keys that must never travel in settings: the server reads keys from env vars named by api_key_env. */
const SECRET_KEYS = ['api_key', 'apiKey', 'key', 'token', 'secret', 'password'];

export interface ServerSettings {
  providers?: Record<string, Record<string, unknown>>;
  routes?: Record<string, string[]>;
  completion?: { debounce_ms?: number };
}

export interface SettingsResult {
  settings: ServerSettings;
  /** Provider fields dropped because they looked like secrets ("codex.api_key"). */
  dropped: string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads the `switchboard` section and returns the server's schema, without anything secret. */
export function serverSettings(config: vscode.WorkspaceConfiguration = vscode.workspace.getConfiguration('switchboard')): SettingsResult {
  const dropped: string[] = [];
  const settings: ServerSettings = {};

  const providers = config.get<unknown>('providers');
  if (isObject(providers) && Object.keys(providers).length > 0) {
    settings.providers = {};
    for (const [name, raw] of Object.entries(providers)) {
      if (!isObject(raw)) {
        continue;
      }
      const clean: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(raw)) {
        if (SECRET_KEYS.includes(k)) {
          dropped.push(`${name}.${k}`);
          continue;
        }
        clean[k] = v;
      }
      settings.providers[name] = clean;
    }
  }

  const routes = config.get<unknown>('routes');
  if (isObject(routes) && Object.keys(routes).length > 0) {
    settings.routes = {};
    for (const [task, chain] of Object.entries(routes)) {
      if (Array.isArray(chain)) {
        settings.routes[task] = chain.filter((p): p is string => typeof p === 'string');
      } else if (typeof chain === 'string') {
        settings.routes[task] = [chain];
      }
    }
  }

  const debounce = config.get<number>('completion.debounceMs');
  if (typeof debounce === 'number' && Number.isFinite(debounce)) {
    settings.completion = { debounce_ms: Math.max(0, Math.round(debounce)) };
  }
  return { settings, dropped };
}
