// The sslp extension: the TextMate grammar for colours (package.json), and
// `sslp lsp` over stdio for diagnostics, quick fixes, hover, completion, go to
// definition, references, rename, formatting, the outline and semantic tokens.
// Plain CommonJS: no build step.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;

/** Starts `sslp lsp` with the configured executable. */
async function start(context) {
  const command = vscode.workspace.getConfiguration('sslp').get('path') || 'sslp';
  const run = { command, args: ['lsp'], transport: TransportKind.stdio };
  client = new LanguageClient(
    'sslp',
    'sslp',
    { run, debug: run },
    {
      documentSelector: [
        { scheme: 'file', language: 'sslp' },
        { scheme: 'untitled', language: 'sslp' },
      ],
      synchronize: {
        // Imported files changed on disk change the diagnostics of their importers.
        fileEvents: vscode.workspace.createFileSystemWatcher('**/*.sslp'),
      },
    },
  );
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    const choice = await vscode.window.showErrorMessage(
      `sslp: could not start \`${command} lsp\` (${err && err.message ? err.message : err}). ` +
        'Install sslp (`cargo install --path .`) or set `sslp.path` to the executable.',
      'Open settings',
    );
    if (choice === 'Open settings') {
      vscode.commands.executeCommand('workbench.action.openSettings', 'sslp.path');
    }
  }
}

async function stop() {
  if (client) {
    const c = client;
    client = undefined;
    await c.stop();
  }
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('sslp.restartServer', async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('sslp.path')) {
        await stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
