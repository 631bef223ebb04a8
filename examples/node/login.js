#!/usr/bin/env node
// Logs in with a WeChat QR code (扫码登录), then streams one answer of 北科大 AI 助手 with the
// new login.
//
//   node login.js [--base-url URL] [--sso-base-url URL] [--sis-base-url URL]
//                 [--cookie-file FILE] [prompt]
//
// The URLs can also come from USTB_BASE_URL, USTB_SSO_BASE_URL and USTB_SIS_BASE_URL (the
// library's defaults are the university's hosts; against the emulator give its URL for all
// three). Prints the QR code as text and the progress (waiting, scanned, confirmed), renews
// an expired code, and saves the cookie to FILE (mode 0600) when --cookie-file is given; it is
// then the `vjuid_login` option of a Client. Ctrl-C cancels.
import { chmod, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Login, QrState, UstbError } from './index.js';

const { values, positionals } = parseArgs({
  options: {
    'base-url': { type: 'string', default: process.env.USTB_BASE_URL },
    'sso-base-url': { type: 'string', default: process.env.USTB_SSO_BASE_URL },
    'sis-base-url': { type: 'string', default: process.env.USTB_SIS_BASE_URL },
    'cookie-file': { type: 'string' },
  },
  allowPositionals: true,
});
const prompt = positionals.join(' ') || '请介绍你自己。';
const MAX_CODES = 5; // QR codes shown before giving up (each lives about 3 minutes)
const NAMES = ['waiting', 'scanned', 'confirmed', 'expired'];

const abort = new AbortController();
process.once('SIGINT', () => abort.abort());
const { signal } = abort;

/** Shows a new QR code (the first, or a renewal). */
async function showCode(login) {
  await login.qrStart({ signal });
  process.stdout.write(`请用微信扫描二维码登录 / Scan with WeChat:\n${login.qrText()}\n`);
  console.log('waiting');
}

/** Waits until the login is confirmed, printing each new state; renews expired codes. */
async function waitForConfirm(login) {
  await showCode(login);
  let codes = 1;
  let last = QrState.WAITING;
  for (;;) {
    const state = await login.wait(60_000, { signal });
    if (state !== last) console.log(NAMES[state]);
    last = state;
    if (state === QrState.CONFIRMED) return;
    if (state === QrState.EXPIRED) {
      if (codes++ === MAX_CODES) throw new Error(`${MAX_CODES} QR codes expired unscanned`);
      console.log('renewing the QR code');
      await showCode(login);
      last = QrState.WAITING;
    }
  }
}

/** Writes the cookie readable by its owner only (also when the file existed before). */
async function saveCookie(cookie, file) {
  await writeFile(file, `${cookie}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  console.log(`cookie saved to ${file} (mode 0600); use it as the vjuid_login option`);
}

const login = new Login({
  base_url: values['base-url'],
  sso_base_url: values['sso-base-url'],
  sis_base_url: values['sis-base-url'],
});
try {
  await waitForConfirm(login);
  const file = values['cookie-file'];
  if (file) await saveCookie(login.cookie(), file);
  else console.log('cookie not saved: give --cookie-file FILE to keep the login');

  const client = login.client();
  try {
    const stream = await client.chat.completions.create(
      { messages: [{ role: 'user', content: prompt }], deep_thinking: false, stream: true },
      { signal },
    );
    process.stdout.write('【回答】\n');
    for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
    process.stdout.write('\n');
  } finally {
    client.close();
  }
} catch (e) {
  const status = e instanceof UstbError ? `${e.statusName}: ` : '';
  process.stderr.write(`login: ${status}${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = signal.aborted ? 130 : 1;
} finally {
  login.close();
}
