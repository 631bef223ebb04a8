// A typed program over the public API, checked by `tsc --noEmit` (never run): it imports the
// package by name, as a user would, so package.json "types" and index.d.ts are what it sees.
// The @ts-expect-error lines must stay errors: they show the declarations constrain callers.
import Client, { ChatStream, Status, UstbError, loadLibrary, version } from 'ustb-openai';
import type { ChatCompletion, ChatCompletionChunk, ClientOptions, StatusCode } from 'ustb-openai';

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
