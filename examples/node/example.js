#!/usr/bin/env node
// Streams one reply of 北科大 AI 助手 to stdout: the thinking under 【思考】, then the answer
// under 【回答】.
//
//   node example.js [--base-url URL] [--cookie "easy_session=…; cookie_vjuid_login=…"] [prompt]
//
// The cookie can also come from USTB_COOKIE. Ctrl-C cancels the stream cleanly.
import { parseArgs } from 'node:util';
import { Client, UstbError } from './index.js';

const { values, positionals } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    cookie: { type: 'string', default: process.env.USTB_COOKIE },
  },
  allowPositionals: true,
});
const prompt = positionals.join(' ') || '请介绍你自己。';

const client = new Client({ base_url: values['base-url'], cookie: values.cookie });
const abort = new AbortController();
process.once('SIGINT', () => abort.abort());

let section = null;
/** Prints a heading whenever the stream switches between thinking and answer. */
function write(kind, text) {
  if (!text) return;
  if (section !== kind) {
    process.stdout.write(`${section ? '\n\n' : ''}${kind === 'reasoning' ? '【思考】' : '【回答】'}\n`);
    section = kind;
  }
  process.stdout.write(text);
}

try {
  const stream = await client.chat.completions.create(
    { model: 'deepseek-r1', messages: [{ role: 'user', content: prompt }], stream: true },
    { signal: abort.signal },
  );
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta ?? {};
    write('reasoning', delta.reasoning_content);
    write('content', delta.content);
  }
  process.stdout.write('\n');
} catch (e) {
  if (!(e instanceof UstbError)) throw e;
  process.stderr.write(`\nexample: ${e.statusName}: ${e.message}\n`);
  process.exitCode = abort.signal.aborted ? 130 : 1;
} finally {
  client.close();
}
