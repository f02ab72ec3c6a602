// Finds the switchboard binary: the `switchboard.serverPath` setting, else the binary bundled with
// the extension (<ext>/bin/switchboard, in the platform .vsix: it matches the extension's version),
// else `switchboard` on PATH.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

const EXE = process.platform === 'win32' ? 'switchboard.exe' : 'switchboard';

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) {
      return false;
    }
    if (process.platform === 'win32') {
      return true;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Some unzip paths drop the executable bit of the bundled binary: restore it (ours to change). */
function makeExecutable(file: string): boolean {
  if (process.platform === 'win32') {
    return false;
  }
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    fs.chmodSync(file, 0o755);
    return isExecutable(file);
  } catch {
    return false;
  }
}

function expand(p: string): string {
  let out = p.trim();
  if (out.startsWith('~/') || out === '~') {
    out = path.join(os.homedir(), out.slice(1));
  }
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (folder) {
    out = out.replace(/\$\{workspaceFolder\}/g, folder);
  }
  return out.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => process.env[name] ?? '');
}

/** `switchboard` on PATH, like `which`. */
export function findOnPath(name = EXE, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

export interface ResolvedServer {
  command: string;
  source: 'setting' | 'PATH' | 'bundled';
}

/** Returns the server to start, or an error message that says what to do. */
export function resolveServer(context: vscode.ExtensionContext): ResolvedServer | { error: string } {
  const configured = vscode.workspace.getConfiguration('switchboard').get<string>('serverPath', '');
  if (configured && configured.trim() !== '') {
    const p = expand(configured);
    if (isExecutable(p)) {
      return { command: p, source: 'setting' };
    }
    return { error: `switchboard.serverPath is set to "${configured}", which is not an executable file.` };
  }
  const bundled = context.asAbsolutePath(path.join('bin', EXE));
  if (isExecutable(bundled) || makeExecutable(bundled)) {
    return { command: bundled, source: 'bundled' };
  }
  const onPath = findOnPath();
  if (onPath) {
    return { command: onPath, source: 'PATH' };
  }
  return {
    error:
      'The switchboard server was not found: install the platform .vsix that bundles it ' +
      '(editors/vscode/scripts/package-bundled.sh), put `switchboard` on PATH (cargo install --path . in the ' +
      'switchboard repository), or set "switchboard.serverPath".',
  };
}
