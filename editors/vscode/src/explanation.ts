// Streams `switchboard/explanation` notifications into a webview panel: chunks with the same id
// append, `done` closes the stream, `error` is shown under the text.
import * as vscode from 'vscode';

export interface ExplanationParams {
  id: string;
  title: string;
  delta: string;
  done: boolean;
  error?: string;
}

interface Stream {
  id: string;
  title: string;
  text: string;
  done: boolean;
  error?: string;
  panel: vscode.WebviewPanel;
  timer?: ReturnType<typeof setTimeout>;
}

export class ExplanationPanels implements vscode.Disposable {
  private readonly streams = new Map<string, Stream>();

  constructor(private readonly log: vscode.LogOutputChannel) {}

  handle(params: ExplanationParams): void {
    if (!params || params.id === undefined || params.id === null) {
      return;
    }
    const id = String(params.id);
    let s = this.streams.get(id);
    if (!s) {
      s = this.open(id, params.title || 'Switchboard');
    }
    if (params.title) {
      s.title = params.title;
      s.panel.title = params.title;
    }
    s.text += params.delta ?? '';
    s.done = params.done === true;
    if (params.error) {
      s.error = params.error;
      this.log.error(`explanation ${id}: ${params.error}`);
    }
    this.schedule(s, s.done || s.error !== undefined);
  }

  private open(id: string, title: string): Stream {
    const panel = vscode.window.createWebviewPanel(
      'switchboard.explanation',
      title,
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, enableFindWidget: true, retainContextWhenHidden: true, localResourceRoots: [] },
    );
    const nonce = Array.from({ length: 16 }, () => Math.floor(Math.random() * 36).toString(36)).join('');
    panel.webview.html = shell(panel.webview, nonce, title);
    const s: Stream = { id, title, text: '', done: false, panel };
    panel.onDidDispose(() => {
      if (s.timer) {
        clearTimeout(s.timer);
      }
      this.streams.delete(id);
    });
    this.streams.set(id, s);
    return s;
  }

  /** Renders at most every 60 ms while streaming, at once when the stream ends. */
  private schedule(s: Stream, now: boolean): void {
    if (s.timer && !now) {
      return;
    }
    if (s.timer) {
      clearTimeout(s.timer);
    }
    s.timer = setTimeout(() => {
      s.timer = undefined;
      void this.render(s);
    }, now ? 0 : 60);
  }

  private async render(s: Stream): Promise<void> {
    let html: string;
    try {
      // The markdown renderer of VS Code's built-in Markdown extension (sanitised, themed).
      html = await vscode.commands.executeCommand<string>('markdown.api.render', s.text);
      if (typeof html !== 'string') {
        throw new Error('no renderer');
      }
    } catch {
      html = `<pre>${escapeHtml(s.text)}</pre>`;
    }
    await s.panel.webview.postMessage({
      type: 'update',
      title: s.title,
      html,
      done: s.done,
      error: s.error ?? null,
    });
  }

  dispose(): void {
    for (const s of this.streams.values()) {
      s.panel.dispose();
    }
    this.streams.clear();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function shell(webview: vscode.Webview, nonce: string, title: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${webview.cspSource} https: data:; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">
  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 16px 24px; line-height: 1.5; }
  pre, code { font-family: var(--vscode-editor-font-family); }
  pre { background: var(--vscode-textCodeBlock-background); padding: 8px; overflow-x: auto; }
  #state { color: var(--vscode-descriptionForeground); font-size: 0.9em; margin-top: 12px; }
  #error { color: var(--vscode-errorForeground); white-space: pre-wrap; }
</style>
</head>
<body>
<div id="content" data-done="false"><p><em>Waiting for the model…</em></p></div>
<div id="error"></div>
<div id="state">streaming…</div>
<script nonce="${nonce}">
  const content = document.getElementById('content');
  const state = document.getElementById('state');
  const error = document.getElementById('error');
  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || m.type !== 'update') { return; }
    const follow = window.innerHeight + window.scrollY >= document.body.scrollHeight - 4;
    content.innerHTML = m.html;
    content.dataset.done = String(m.done);
    error.textContent = m.error ? 'Error: ' + m.error : '';
    state.textContent = m.error ? 'failed' : (m.done ? 'done' : 'streaming…');
    if (follow && !m.done) { window.scrollTo(0, document.body.scrollHeight); }
  });
</script>
</body>
</html>`;
}
