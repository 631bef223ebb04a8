// A typed program over the public API, checked by `tsc --noEmit` (never run): it imports the
// package by name, as a user would, so package.json "types" and index.d.ts are what it sees.
// The @ts-expect-error lines must stay errors: they show the declarations constrain callers.
import Client, {
  ChatStream, LogLevel, Login, PUZZLE_AUTO, QrState, Status, UstbError, loadLibrary, setLogger, version,
} from 'ustb-openai';
import type {
  App, ChatCompletion, ChatCompletionChunk, ChatCompletionTool, ChatMessage, ClientOptions, HistoryMessage, LoginOptions,
  LoginState, Logger, ModelList, QrStateCode, Session, StatusCode,
} from 'ustb-openai';

const weather: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'The weather', parameters: { type: 'object' } },
};

/** Platform calls, function calling and logging. */
export async function more(client: Client, signal: AbortSignal): Promise<string> {
  const lines: string[] = [];
  const logger: Logger = (level, message) => lines.push(`${level}: ${message}`);
  await setLogger(logger, { level: 'debug' });
  await setLogger(console, { level: LogLevel.WARN });
  const models: ModelList = await client.models.list({ compose_id: 5 }, { signal });
  const state: LoginState = await client.loginState({ signal });
  const apps: App[] = await client.apps();
  const app: App = await client.appDetail(5);
  const sessions: Session[] = await client.sessions({ page: 1, page_size: 10 }, { signal });
  const history: HistoryMessage[] = await client.chatHistory(sessions[0]?.sess_id ?? 'none');
  await client.deleteSession('abc');
  const id: string = await client.newSessionId();
  const info = await client.webInfo();
  const settings = await client.pageSettings(0, { signal });

  const messages: ChatMessage[] = [{ role: 'user', content: '北京天气' }];
  const first: ChatCompletion = await client.chat.completions.create({ messages, tools: [weather], tool_choice: 'auto' });
  const calls = first.choices[0].message.tool_calls ?? [];
  messages.push({ role: 'assistant', content: null, tool_calls: calls });
  for (const call of calls) messages.push({ role: 'tool', tool_call_id: call.id, content: `${call.function.name}: 晴` });
  const stream = await client.chat.completions.create({
    messages,
    tools: [weather],
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    parallel_tool_calls: false,
    stream: true,
  });
  for await (const chunk of stream) {
    for (const call of chunk.choices[0]?.delta.tool_calls ?? []) lines.push(`${call.index} ${call.function?.arguments ?? ''}`);
  }
  await setLogger(null);
  // @ts-expect-error: not a level
  await setLogger(logger, { level: 'verbose' });
  // @ts-expect-error: session ids are strings
  await client.chatHistory(42);
  // @ts-expect-error: a login state is one of three
  const bad: LoginState['state'] = 'maybe';
  void bad;
  return `${models.data[0]?.id} ${state.state} ${apps.length} ${app.name} ${history.length} ${id} ${String(info.name)} ${typeof settings} ${lines.length}`;
}

export async function usage(baseURL: string): Promise<string> {
  loadLibrary();
  const options: ClientOptions = { baseURL, vjuid_login: 'x', idleTimeoutMs: 20_000, maxRetries: 0 };
  const client = new Client(options);
  const abort = new AbortController();
  let text = `${version()}: `;
  try {
    const stream: ChatStream = await client.chat.completions.create(
      { model: 'deepseek-r1', messages: [{ role: 'user', content: '你好' }], stream: true },
      { signal: abort.signal },
    );
    for await (const chunk of stream) {
      const c: ChatCompletionChunk = chunk;
      text += c.choices[0]?.delta.reasoning_content ?? '';
      text += c.choices[0]?.delta.content ?? '';
      if (c.choices[0]?.finish_reason === 'stop') break;
    }
    stream.close();

    const completion: ChatCompletion = await client.chat.completions.create({
      messages: [{ role: 'user', content: '你好' }],
      stream_options: { include_usage: true },
      deep_thinking: false,
    });
    text += completion.choices[0].message.content ?? '';
    text += String(completion.usage?.total_tokens ?? 0);

    const rest: ChatCompletion = await (await client.chat.completions.create({ messages: [], stream: true })).collect();
    text += rest.id;

    const cookies = client.cookies();
    text += cookies.easy_session ?? '';
    const profile: Record<string, unknown> = await client.userInfo();
    text += JSON.stringify(profile);

    // @ts-expect-error: a non-streamed create resolves to a completion, not a stream
    const notAStream: ChatStream = await client.chat.completions.create({ messages: [] });
    void notAStream;
    // @ts-expect-error: messages are required
    await client.chat.completions.create({ stream: true });
  } catch (e) {
    if (!(e instanceof UstbError)) throw e;
    const status: StatusCode = Status.CANCELLED;
    text += `${e.statusName} ${e.status === status} ${e.apiCode} ${e.httpStatus} ${e.type ?? ''} ${e.detail.m ?? ''}`;
  } finally {
    client.close();
  }
  // @ts-expect-error: Status is read-only
  Status.OK = 1;
  // @ts-expect-error: no such status
  void Status.NOT_A_STATUS;
  return text;
}

/** The QR and SMS logins. */
export async function login(url: string, signal: AbortSignal): Promise<string> {
  const options: LoginOptions = { baseURL: url, ssoBaseURL: url, sis_base_url: url, caFile: undefined, maxRetries: 0 };
  const qr = new Login(options);
  let out = '';
  try {
    await qr.qrStart({ signal });
    const png: Buffer = qr.qrPng();
    out += `${png.length} ${qr.qrText()} ${qr.qrPageUrl()}`;
    let state: QrStateCode = QrState.WAITING;
    while (state !== QrState.CONFIRMED) {
      state = await qr.wait(30_000, { signal });
      if (state === QrState.EXPIRED) await qr.qrStart();
    }
    const client: Client = qr.client();
    qr.install(client);
    out += qr.cookie();
    client.close();
  } catch (e) {
    if (e instanceof UstbError && e.status === Status.AUTH_ERROR) out += 'log in again';
  } finally {
    qr.close();
  }
  const sms = new Login({ base_url: url });
  await sms.smsPuzzle();
  const { background, piece }: { background: Buffer; piece: Buffer } = sms.puzzleImages();
  const x: number = sms.puzzleSolve();
  await sms.smsSend('13800000000', x, { signal });
  await sms.smsSend('13800000000', PUZZLE_AUTO);
  await sms.smsSubmit('000000');
  // @ts-expect-error: a phone number is a string
  await sms.smsSend(13800000000);
  // @ts-expect-error: wait needs a timeout
  await sms.wait();
  // @ts-expect-error: no such option
  void new Login({ sso: url });
  // @ts-expect-error: a wait never resolves to FAILED
  const failed: Awaited<ReturnType<Login['wait']>> = QrState.FAILED;
  void failed;
  sms.close();
  return `${out} ${background.length} ${piece.length}`;
}
