// Switchboard for VS Code: starts the `switchboard` language server over stdio and wires its
// inline completions (ghost text), completion items, code actions, streamed explanations and
// status into the editor.
import * as vscode from 'vscode';
import {
  type ClientCapabilities,
  DidChangeConfigurationNotification,
  type DocumentSelector,
  ExecuteCommandRequest,
  type ResponseError,
  type FeatureState,
  LanguageClient,
  type LanguageClientOptions,
  type ServerCapabilities,
  type ServerOptions,
  type StaticFeature,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { ExplanationPanels, type ExplanationParams } from './explanation';
import { resolveServer } from './server';
import { serverSettings } from './settings';
import { StatusItem, type StatusParams } from './status';

const LANGUAGES = [
  'rust', 'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'c', 'cpp',
  'java', 'lua', 'json', 'jsonc', 'shellscript',
];

/** Commands the extension implements itself, even when the server also lists them. */
const CLIENT_COMMANDS = ['switchboard.doctor', 'switchboard.toggleInline', 'switchboard.restart', 'switchboard.showLog'];

let client: LanguageClient | undefined;
let log: vscode.LogOutputChannel;
let doctorChannel: vscode.OutputChannel | undefined;
let status: StatusItem;
let panels: ExplanationPanels;

/**
 * Announces `experimental.switchboard` so the server streams explanations to the panel and sends
 * status notifications; and keeps the commands the extension registers itself out of the
 * language client's own executeCommand registration (a second registration would throw).
 */
class SwitchboardFeature implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const experimental = (capabilities.experimental ?? {}) as Record<string, unknown>;
    experimental.switchboard = { explanationView: true, status: true };
    capabilities.experimental = experimental;
  }

  preInitialize(capabilities: ServerCapabilities, _documentSelector: DocumentSelector | undefined): void {
    const provider = capabilities.executeCommandProvider;
    if (provider?.commands) {
      provider.commands = provider.commands.filter((c) => !CLIENT_COMMANDS.includes(c));
    }
  }

  initialize(): void {}

  getState(): FeatureState {
    return { kind: 'static' };
  }

  clear(): void {}
}

function inlineEnabled(): boolean {
  return vscode.workspace.getConfiguration('switchboard').get<boolean>('inline.enabled', true);
}

function settingsForServer() {
  const { settings, dropped } = serverSettings();
  if (dropped.length > 0) {
    void vscode.window.showWarningMessage(
      `Switchboard: ignored ${dropped.join(', ')} in settings — put keys in environment variables and name them with "api_key_env".`,
    );
  }
  return settings;
}

function createClient(context: vscode.ExtensionContext): LanguageClient | undefined {
  const server = resolveServer(context);
  if ('error' in server) {
    status.setState('missing');
    log.error(server.error);
    void vscode.window.showErrorMessage(`Switchboard: ${server.error}`, 'Open Settings').then((choice) => {
      if (choice) {
        void vscode.commands.executeCommand('workbench.action.openSettings', 'switchboard.serverPath');
      }
    });
    return undefined;
  }
  log.info(`server: ${server.command} (from ${server.source})`);

  const env: NodeJS.ProcessEnv = { ...process.env };
  const filter = vscode.workspace.getConfiguration('switchboard').get<string>('log', 'info');
  if (filter && !env.SWITCHBOARD_LOG) {
    env.SWITCHBOARD_LOG = filter;
  }
  const serverOptions: ServerOptions = {
    command: server.command,
    args: [],
    transport: TransportKind.stdio, // the client appends --stdio
    options: { env },
  };

  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    outputChannel: log,
    initializationOptions: settingsForServer(),
    middleware: {
      // Client-side switch for ghost text (switchboard.toggleInline): no request at all when off.
      provideInlineCompletionItems: (document, position, ctx, token, next) => {
        if (!inlineEnabled()) {
          return null;
        }
        return next(document, position, ctx, token);
      },
      workspace: {
        // Pull-style configuration gets the same schema as the pushed one.
        configuration: async (params, token, next) => {
          const results: unknown = await next(params, token);
          if (!Array.isArray(results)) {
            return results as ResponseError<void>;
          }
          const values = results as unknown[];
          return params.items.map((item, i): unknown => (item.section === 'switchboard' ? serverSettings().settings : values[i]));
        },
      },
    },
  };

  const c = new LanguageClient('switchboard', 'Switchboard', serverOptions, clientOptions);
  c.registerFeature(new SwitchboardFeature());
  c.onDidChangeState((e) => {
    if (e.newState === State.Running) {
      status.setState('running');
    } else if (e.newState === State.Stopped) {
      status.setState('stopped');
    } else {
      status.setState('starting');
    }
  });
  return c;
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  client = createClient(context);
  if (!client) {
    return;
  }
  const c = client;
  context.subscriptions.push(
    c.onNotification('switchboard/explanation', (params: ExplanationParams) => panels.handle(params)),
    c.onNotification('switchboard/status', (params: StatusParams) => status.update(params)),
  );
  try {
    await c.start();
  } catch (err) {
    status.setState('stopped');
    log.error(`failed to start the server: ${String(err)}`);
    void vscode.window.showErrorMessage(`Switchboard: the server failed to start (${String(err)}). See "Switchboard: Show Log".`);
  }
}

async function stopClient(): Promise<void> {
  const c = client;
  client = undefined;
  if (c && c.needsStop()) {
    try {
      await c.stop(3000);
    } catch (err) {
      log.warn(`stop: ${String(err)}`);
    }
  }
  if (c) {
    await c.dispose().catch(() => undefined);
  }
}

async function doctor(context: vscode.ExtensionContext): Promise<string> {
  doctorChannel ??= vscode.window.createOutputChannel('Switchboard Doctor');
  const ch = doctorChannel;
  ch.clear();
  let report: string;
  if (client?.isRunning()) {
    try {
      const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, { command: 'switchboard.doctor', arguments: [] });
      report = typeof result === 'string' ? result : JSON.stringify(result, null, 2);
    } catch (err) {
      report = `switchboard.doctor failed: ${String(err)}`;
    }
  } else {
    const server = resolveServer(context);
    report = 'error' in server
      ? server.error
      : `The server is not running (${server.command}). Run "Switchboard: Restart Server" and see "Switchboard: Show Log".`;
  }
  ch.appendLine(`Switchboard doctor — ${new Date().toISOString()} — status bar: ${status.text}`);
  ch.appendLine('');
  ch.appendLine(report);
  ch.show(true);
  return report;
}

export async function activate(context: vscode.ExtensionContext): Promise<{ doctor: () => Promise<string> }> {
  log = vscode.window.createOutputChannel('Switchboard', { log: true });
  status = new StatusItem();
  status.setInlineEnabled(inlineEnabled());
  panels = new ExplanationPanels(log);
  context.subscriptions.push(log, status, panels);

  context.subscriptions.push(
    vscode.commands.registerCommand('switchboard.toggleInline', async () => {
      const on = !inlineEnabled();
      await vscode.workspace.getConfiguration('switchboard').update('inline.enabled', on, vscode.ConfigurationTarget.Global);
      status.setInlineEnabled(on);
      if (!on) {
        await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
      }
      vscode.window.setStatusBarMessage(`Switchboard: inline completions ${on ? 'on' : 'off'}`, 3000);
    }),
    vscode.commands.registerCommand('switchboard.restart', async () => {
      await stopClient();
      status.setState('starting');
      await startClient(context);
    }),
    vscode.commands.registerCommand('switchboard.showLog', () => log.show()),
    vscode.commands.registerCommand('switchboard.doctor', () => doctor(context)),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration('switchboard')) {
        return;
      }
      if (e.affectsConfiguration('switchboard.inline.enabled')) {
        status.setInlineEnabled(inlineEnabled());
      }
      if (e.affectsConfiguration('switchboard.serverPath') || e.affectsConfiguration('switchboard.log')) {
        await vscode.commands.executeCommand('switchboard.restart');
        return;
      }
      if (client?.isRunning()) {
        await client.sendNotification(DidChangeConfigurationNotification.type, {
          settings: { switchboard: settingsForServer() },
        });
      }
    }),
  );

  await startClient(context);
  return { doctor: () => doctor(context) };
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
