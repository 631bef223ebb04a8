// Function calling through the wrapper: tool_calls deltas in a stream, message.tool_calls in a
// completion, a two-step loop, and refused tool requests. The emulator scripts the model's
// calls with `@emu:tool=NAME:ARGS`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Status } from '../index.js';
import { startEmulator } from './emulator.js';
import { rejectsWith } from './helpers.js';

/** @type {{url: string, stop: () => void}} */ let emu;
/** @type {Client} */ let client;

before(async () => {
  emu = await startEmulator();
  client = new Client({ base_url: emu.url, vjuid_login: 'test-login', idle_timeout_ms: 20000 });
});
after(() => {
  client?.close();
  emu?.stop();
});

const fn = (name, properties) => ({
  type: 'function',
  function: { name, description: `the ${name} tool`, parameters: { type: 'object', properties } },
});
const TOOLS = [fn('get_weather', { city: { type: 'string' } }), fn('get_time', { zone: { type: 'string' } })];
const WEATHER = '@emu:tool=get_weather:{"city":"北京"}';
const ask = (content, extra = {}) => ({ messages: [{ role: 'user', content }], tools: TOOLS, ...extra });

/** Assembles streamed tool_calls deltas by index, as openai-node's stream helpers do. */
function assemble(chunks) {
  /** @type {Array<{id: string, type: string, function: {name: string, arguments: string}}>} */
  const calls = [];
  for (const chunk of chunks) {
    for (const d of chunk.choices[0]?.delta?.tool_calls ?? []) {
      if (d.id !== undefined) {
        assert.equal(d.index, calls.length, 'a new call takes the next index');
        calls.push({ id: d.id, type: d.type, function: { name: d.function.name, arguments: d.function.arguments ?? '' } });
      } else {
        calls[d.index].function.arguments += d.function?.arguments ?? '';
      }
    }
  }
  return calls;
}

test('a streamed reply carries OpenAI tool_calls deltas and ends with tool_calls', async () => {
  const chunks = [];
  for await (const chunk of await client.chat.completions.create(ask(`${WEATHER} @emu:tool=get_time:{"zone":"UTC+8"}`, { stream: true }))) {
    chunks.push(chunk);
  }
  const first = chunks.find((c) => c.choices[0]?.delta?.tool_calls)?.choices[0].delta.tool_calls[0];
  assert.equal(first.index, 0);
  assert.match(first.id, /^call_[0-9a-f]{24}$/);
  assert.equal(first.type, 'function');
  assert.deepEqual(first.function, { name: 'get_weather', arguments: '' });

  const calls = assemble(chunks);
  assert.deepEqual(calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [
    ['get_weather', { city: '北京' }], ['get_time', { zone: 'UTC+8' }],
  ]);
  assert.notEqual(calls[0].id, calls[1].id);
  const content = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(content.trim(), '好的，我来调用工具。', 'the text around the calls, without the markup');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
});

// Issue 17: the loop runs the same whatever markup the model writes its call in (the emulator's
// `@emu:tool-form=FORM`): ours, XML invocations, DeepSeek's special tokens, a call in the reasoning.
for (const form of ['ours', 'invoke', 'special', 'reasoning']) {
  test(`a completion carries message.tool_calls; the two-step loop answers from the result (tool-form ${form})`, async () => {
    const prompt = `${WEATHER} @emu:tool-form=${form}`;
    const first = await client.chat.completions.create(ask(prompt));
    const { message, finish_reason: finish } = first.choices[0];
    assert.equal(finish, 'tool_calls');
    assert.doesNotMatch(message.content, /[<｜`{]/, 'none of the markup is text');
    assert.equal(message.tool_calls.length, 1);
    const [call] = message.tool_calls;
    assert.match(call.id, /^call_[0-9a-f]{24}$/);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: '北京' });

    // The program runs the tool and sends the result back with the call.
    const result = JSON.stringify({ city: '北京', weather: '晴', temperature: 25 });
    const messages = [
      { role: 'user', content: prompt },
      { role: 'assistant', content: message.content, tool_calls: message.tool_calls },
      { role: 'tool', tool_call_id: call.id, content: result },
    ];
    const answer = await client.chat.completions.create({ messages, tools: TOOLS });
    assert.equal(answer.choices[0].finish_reason, 'stop');
    assert.equal(answer.choices[0].message.tool_calls, undefined);
    assert.ok(answer.choices[0].message.content.startsWith('根据工具 get_weather 的结果：'), answer.choices[0].message.content);
    assert.ok(answer.choices[0].message.content.includes('晴'));
  });
}

test('tool_choice none leaves markup as text; so does a call whose arguments are not a JSON object', async () => {
  const none = await client.chat.completions.create(ask(WEATHER, { tool_choice: 'none' }));
  assert.equal(none.choices[0].finish_reason, 'stop');
  assert.equal(none.choices[0].message.tool_calls, undefined);
  assert.match(none.choices[0].message.content, /<tool_call>/);

  const raw = await client.chat.completions.create(ask('@emu:tool=get_weather:{city: 北京}', {
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    parallel_tool_calls: false,
  }));
  assert.equal(raw.choices[0].finish_reason, 'stop');
  assert.equal(raw.choices[0].message.tool_calls, undefined);
  assert.match(raw.choices[0].message.content, /<tool_call>\{"name":"get_weather","arguments":\{city: 北京\}\}<\/tool_call>/);
});

test('bad tool requests are refused when the request is opened', async () => {
  await rejectsWith(client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], tool_choice: 'required' }), Status.INVALID_REQUEST);
  await rejectsWith(client.chat.completions.create(ask('x', { tool_choice: { type: 'function', function: { name: 'nope' } } })), Status.INVALID_REQUEST);
  const e = await rejectsWith(client.chat.completions.create(ask('x', { tools: [fn('bad name!', {})], stream: true })), Status.INVALID_REQUEST);
  assert.match(e.message, /tools/);
});
