// The status-bar item: which provider served the last task and how fast, or the last error.
// Fed by the server notification `switchboard/status`; clicking it runs the doctor.
import * as vscode from 'vscode';

export interface StatusParams {
  task: string;
  provider?: string;
  model?: string;
  latencyMs?: number;
  error?: string;
}

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private last: StatusParams | undefined;
  private inlineEnabled = true;
  private state: 'starting' | 'running' | 'stopped' | 'missing' = 'starting';

  constructor() {
    this.item = vscode.window.createStatusBarItem('switchboard.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Switchboard';
    this.item.command = 'switchboard.doctor';
    this.render();
    this.item.show();
  }

  setState(state: 'starting' | 'running' | 'stopped' | 'missing'): void {
    this.state = state;
    this.render();
  }

  setInlineEnabled(on: boolean): void {
    this.inlineEnabled = on;
    this.render();
  }

  update(params: StatusParams): void {
    this.last = params;
    this.render();
  }

  /** The text shown, for tests and the doctor header. */
  get text(): string {
    return this.item.text;
  }

  private render(): void {
    const s = this.last;
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown('**Switchboard**');
    this.item.backgroundColor = undefined;
    if (this.state === 'missing') {
      this.item.text = '$(error) Switchboard';
      tip.appendMarkdown('\n\nServer not found. Click for the doctor report.');
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
    } else if (this.state === 'stopped') {
      this.item.text = '$(debug-disconnect) Switchboard';
      tip.appendMarkdown('\n\nServer stopped. Run "Switchboard: Restart Server".');
    } else if (s?.error) {
      this.item.text = `$(warning) ${s.provider ?? 'Switchboard'}: ${truncate(s.error, 40)}`;
      tip.appendMarkdown(`\n\nLast ${s.task} failed${s.provider ? ` on ${s.provider}` : ''}:\n\n`);
      tip.appendText(s.error);
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    } else if (s) {
      const latency = typeof s.latencyMs === 'number' ? ` ${Math.round(s.latencyMs)}ms` : '';
      this.item.text = `$(zap) ${s.provider ?? 'Switchboard'}${latency}`;
      tip.appendMarkdown(`\n\nLast ${s.task}: ${s.provider ?? '?'}${s.model ? ` (${s.model})` : ''}${latency ? `, ${latency.trim()}` : ''}`);
    } else {
      this.item.text = this.state === 'starting' ? '$(loading~spin) Switchboard' : '$(zap) Switchboard';
    }
    if (!this.inlineEnabled) {
      this.item.text = this.item.text.replace(/^\$\([^)]+\)/, '$(circle-slash)');
      tip.appendMarkdown('\n\nInline completions are off ("Switchboard: Toggle Inline Completions").');
    }
    tip.appendMarkdown('\n\nClick for the doctor report.');
    this.item.tooltip = tip;
  }

  dispose(): void {
    this.item.dispose();
  }
}

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}
