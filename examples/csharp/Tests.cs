// Tests for the C# wrapper against the bundled emulator (USTB_EMULATOR), with a tiny runner:
// each test is a method; a failed assertion throws; the exit code is the number of failures (capped).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using UstbOpenAI;

internal static class Tests
{
    private const string Intro = "请介绍你自己。";
    private const string IntroReasoning = "好的，用户问：请介绍你自己。。";
    private const string IntroContent = "你好！我是北科大 AI 助手。";

    private static string _baseUrl;

    private static int Main()
    {
        var tests = new List<KeyValuePair<string, Action>>
        {
            T("version_and_status_names", VersionAndStatusNames),
            T("status_values_match_header", StatusValuesMatchHeader),
            T("options_json_matches_library", OptionsJsonMatchesLibrary),
            T("unknown_option_is_invalid_argument", UnknownOptionIsInvalidArgument),
            T("stream_text", StreamText),
            T("stream_non_ascii_prompt_round_trip", StreamNonAsciiPromptRoundTrip),
            T("stream_usage_chunk", StreamUsageChunk),
            T("completion", Completion),
            T("completion_raw_json", CompletionRawJson),
            T("moderation_finish_reason", ModerationFinishReason),
            T("auth_error_10042", AuthError10042),
            T("auth_error_on_stream_read", AuthErrorOnStreamRead),
            T("truncated", Truncated),
            T("invalid_request", InvalidRequest),
            T("connect_error", ConnectError),
            T("request_timeout", RequestTimeout),
            T("callback_full_reply", CallbackFullReply),
            T("callback_early_stop", CallbackEarlyStop),
            T("callback_exception_propagates", CallbackExceptionPropagates),
            T("stream_for_each", StreamForEach),
            T("cancel_from_other_thread", CancelFromOtherThread),
            T("cancellation_token", CancellationTokenCancels),
            T("dispose_while_reading", DisposeWhileReading),
            T("cancel_and_read_after_dispose", CancelAndReadAfterDispose),
            T("concurrent_streams_one_client", ConcurrentStreamsOneClient),
            T("cookies_and_user_info", CookiesAndUserInfo),
            T("platform_endpoints", PlatformEndpoints),
            T("models_list", ModelsList),
            T("login_states", LoginStates),
            T("logged_out_endpoints_are_auth_errors", LoggedOutEndpoints),
            T("endpoint_bad_arguments", EndpointBadArguments),
            T("endpoint_cancel", EndpointCancel),
            T("tool_call_stream", ToolCallStream),
            T("tool_call_create_and_two_step_loop", ToolCallCreateAndLoop),
            T("tool_loop_every_form", ToolLoopEveryForm),
            T("tool_choice", ToolChoiceOptions),
            T("logging_routed_to_event", LoggingRouted),
            T("logging_handler_misuse", LoggingHandlerMisuse),
            T("no_growth_over_300_streams", NoGrowth),
            T("example_program", ExampleProgram),
            T("login_state_values_match_header", LoginStateValuesMatchHeader),
            T("login_options", LoginOptionsJson),
            T("login_calls_before_start", LoginCallsBeforeStart),
            T("login_use_after_dispose", LoginUseAfterDispose),
            T("login_qr_happy_path", LoginQrHappyPath),
            T("login_qr_expiry_and_renewal", LoginQrExpiryAndRenewal),
            T("login_qr_invalid_is_auth_error", LoginQrInvalid),
            T("login_qr_wait_cancel", LoginQrWaitCancel),
            T("login_dispose_cancels_wait", LoginDisposeCancelsWait),
            T("login_sms_happy_path", LoginSmsHappyPath),
            T("login_sms_auto_and_install", LoginSmsAutoAndInstall),
            T("login_sms_wrong_code", LoginSmsWrongCode),
            T("login_sms_bad_phone_sends_nothing", LoginSmsBadPhone),
            T("login_secrets_never_in_errors_or_logs", LoginSecrets),
            T("login_example_program", LoginExampleProgram),
            T("missing_native_library", MissingNativeLibrary),
        };

        int passed = 0, failed = 0;
        using (var emulator = Emulator.Start())
        {
            _baseUrl = emulator.BaseUrl;
            foreach (var t in tests)
            {
                var sw = Stopwatch.StartNew();
                try
                {
                    t.Value();
                    passed++;
                    Console.WriteLine("ok    {0} ({1} ms)", t.Key, sw.ElapsedMilliseconds);
                }
                catch (Exception e)
                {
                    failed++;
                    Console.WriteLine("FAIL  {0}: {1}", t.Key, e);
                }
            }
        }
        Console.WriteLine("csharp: {0} passed, {1} failed", passed, failed);
        return Math.Min(failed, 100);
    }

    private static KeyValuePair<string, Action> T(string name, Action a) { return new KeyValuePair<string, Action>(name, a); }

    // ---- helpers ----

    private sealed class AssertionException : Exception
    {
        public AssertionException(string m) : base(m) { }
    }

    private static void Check(bool cond, string what)
    {
        if (!cond) throw new AssertionException(what);
    }

    private static void Eq<T>(T expected, T actual, string what)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
            throw new AssertionException(what + ": expected <" + expected + "> but got <" + actual + ">");
    }

    private static UstbException Throws(Action a, string what)
    {
        try { a(); }
        catch (UstbException e) { return e; }
        throw new AssertionException(what + ": expected a UstbException");
    }

    private static UstbClient LoggedIn(string extra = null)
    {
        return new UstbClient("{\"base_url\":\"" + _baseUrl + "\",\"vjuid_login\":\"test\",\"idle_timeout_ms\":20000" + (extra ?? "") + "}");
    }

    private static UstbClient Anonymous()
    {
        return new UstbClient(new ClientOptions { BaseUrl = _baseUrl, IdleTimeoutMs = 20000 });
    }

    /// <summary>Reads a whole stream; returns (reasoning, content) joined, and the finish reason.</summary>
    private static string[] Collect(IEnumerable<ChatCompletionChunk> chunks)
    {
        var reasoning = new StringBuilder();
        var content = new StringBuilder();
        string finish = null;
        foreach (var c in chunks)
        {
            if (c.Choices.Count == 0) continue;
            reasoning.Append(c.Choices[0].Delta.ReasoningContent);
            content.Append(c.Choices[0].Delta.Content);
            if (c.Choices[0].FinishReason != null) finish = c.Choices[0].FinishReason;
        }
        return new[] { reasoning.ToString(), content.ToString(), finish };
    }

    // ---- tests ----

    private static void VersionAndStatusNames()
    {
        Check(UstbClient.Version.StartsWith("0.", StringComparison.Ordinal), "version " + UstbClient.Version);
        Eq("USTB_CANCELLED", UstbClient.StatusName(UstbStatus.Cancelled), "name of 14");
        Eq("USTB_AUTH_ERROR", UstbClient.StatusName(UstbStatus.AuthError), "name of 10");
        // The enum mirrors the C values one to one.
        foreach (UstbStatus s in Enum.GetValues(typeof(UstbStatus)))
            Check(UstbClient.StatusName(s) != "USTB_UNKNOWN", "library knows " + s);
        Eq("USTB_UNKNOWN", UstbClient.StatusName((UstbStatus)99), "name of 99");
    }

    /// <summary>UstbStatus against the ustb_status enum of USTB_INCLUDE_DIR/ustb_openai.h: the same
    /// names (USTB_END_OF_STREAM is EndOfStream) with the same numbers, nothing more or less.</summary>
    private static void StatusValuesMatchHeader()
    {
        var dir = Environment.GetEnvironmentVariable("USTB_INCLUDE_DIR");
        Check(!string.IsNullOrEmpty(dir), "USTB_INCLUDE_DIR is set");
        var header = Regex.Replace(File.ReadAllText(Path.Combine(dir, "ustb_openai.h")), @"/\*.*?\*/", "", RegexOptions.Singleline);
        var body = Regex.Match(header, @"typedef enum \{([^}]*)\} ustb_status;");
        Check(body.Success, "ustb_status enum in the header");
        var declared = new Dictionary<string, int>();
        foreach (Match m in Regex.Matches(body.Groups[1].Value, @"\bUSTB_(\w+)\s*=\s*(-?\d+)"))
        {
            var pascal = string.Concat(m.Groups[1].Value.Split('_').Select(w => w.Substring(0, 1) + w.Substring(1).ToLowerInvariant()));
            declared.Add(pascal, int.Parse(m.Groups[2].Value));
        }
        Check(declared.Count >= 16, "statuses parsed from the header: " + declared.Count);
        var mine = Enum.GetValues(typeof(UstbStatus)).Cast<UstbStatus>().ToDictionary(v => v.ToString(), v => (int)v);
        foreach (var d in declared)
        {
            Check(mine.ContainsKey(d.Key), "UstbStatus." + d.Key + " (USTB_" + d.Key.ToUpperInvariant() + ") exists");
            Eq(d.Value, mine[d.Key], "value of UstbStatus." + d.Key);
        }
        foreach (var m in mine) Check(declared.ContainsKey(m.Key), "UstbStatus." + m.Key + " is in the header");
    }

    private static void OptionsJsonMatchesLibrary()
    {
        var o = new ClientOptions
        {
            BaseUrl = "http://127.0.0.1:1", VjuidLogin = "a\"b\\c", ConnectTimeoutMs = 1000,
            IdleTimeoutMs = 2000, TimeoutMs = 3000, MaxRetries = 0, UserAgent = "t", ComposeId = 3, Model = "DeepSeek",
        };
        using (var c = new UstbClient(o)) Eq("a\"b\\c", c.GetCookies().VjuidLogin, "escaped cookie round trip");
        var r = ChatRequest.FromPrompt("x\n\"y\"");
        r.IncludeUsage = true; r.DeepThinking = false; r.WebSearch = false; r.ThinkingBudget = 10;
        var parsed = (Dictionary<string, object>)Json.Parse(r.ToJson());
        Eq("x\n\"y\"", Json.GetString((Dictionary<string, object>)Json.GetList(parsed, "messages")[0], "content"), "request content");
        Eq(false, (bool)Json.Get(parsed, "deep_thinking"), "deep_thinking");
    }

    private static void UnknownOptionIsInvalidArgument()
    {
        var e = Throws(() => new UstbClient("{\"bogus\":1}"), "unknown key");
        Eq(UstbStatus.InvalidArgument, e.Status, "status");
        Eq("invalid_argument", e.Type, "type");
        Check(e.Message.Contains("bogus"), "message names the key: " + e.Message);
        Eq(UstbStatus.InvalidArgument, Throws(() => new UstbClient("{not json"), "bad json").Status, "bad json status");
    }

    private static void StreamText()
    {
        using (var client = LoggedIn())
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro)))
        {
            var chunks = stream.ToList();
            Check(chunks.Count >= 3, "several chunks, got " + chunks.Count);
            Eq("assistant", chunks[0].Choices[0].Delta.Role, "first delta role");
            Check(chunks.All(c => c.Id == chunks[0].Id && c.Id.StartsWith("chatcmpl-", StringComparison.Ordinal)), "one shared id");
            var text = Collect(chunks);
            Eq(IntroReasoning, text[0], "reasoning");
            Eq(IntroContent, text[1], "content");
            Eq("stop", text[2], "finish_reason");
            Check(stream.Next() == null, "END_OF_STREAM repeats");
        }
    }

    private static void StreamNonAsciiPromptRoundTrip()
    {
        const string prompt = "北科大在哪里？😀 \"quoted\" \\ tab\t";
        using (var client = LoggedIn())
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(prompt)))
            Eq(IntroContent + "你说：「" + prompt + "」", Collect(stream)[1], "echoed content");
    }

    private static void StreamUsageChunk()
    {
        var r = ChatRequest.FromPrompt(Intro);
        r.IncludeUsage = true;
        using (var client = LoggedIn())
        using (var stream = client.StreamChatCompletion(r))
        {
            var last = stream.ToList().Last();
            Eq(0, last.Choices.Count, "usage chunk has no choices");
            Check(last.Usage != null && last.Usage.TotalTokens > 0, "usage present");
            Eq(last.Usage.PromptTokens + last.Usage.CompletionTokens, last.Usage.TotalTokens, "total");
        }
    }

    private static void Completion()
    {
        using (var client = LoggedIn())
        {
            var c = client.CreateChatCompletion(ChatRequest.FromPrompt(Intro));
            Eq(1, c.Choices.Count, "one choice");
            Eq("assistant", c.Choices[0].Message.Role, "role");
            Eq(IntroContent, c.Choices[0].Message.Content, "content");
            Eq(IntroReasoning, c.Choices[0].Message.ReasoningContent, "reasoning");
            Eq("stop", c.Choices[0].FinishReason, "finish_reason");
            Check(c.Usage != null && c.Usage.TotalTokens == c.Usage.PromptTokens + c.Usage.CompletionTokens && c.Usage.TotalTokens > 0, "usage");
            Check(c.Id.StartsWith("chatcmpl-", StringComparison.Ordinal), "id " + c.Id);
        }
    }

    private static void CompletionRawJson()
    {
        using (var client = LoggedIn())
        {
            var json = client.CreateChatCompletionJson("{\"model\":\"deepseek-chat\",\"deep_thinking\":false,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            var c = ChatCompletion.Parse(json);
            Eq("chat.completion", Json.GetString((Dictionary<string, object>)Json.Parse(json), "object"), "object");
            Eq(IntroContent + "你说：「hi」", c.Choices[0].Message.Content, "content");
        }
    }

    private static void ModerationFinishReason()
    {
        using (var client = LoggedIn())
            Eq("content_filter", client.CreateChatCompletion(ChatRequest.FromPrompt("x @emu:moderation")).Choices[0].FinishReason, "finish_reason");
    }

    private static void AuthError10042()
    {
        using (var client = Anonymous())
        {
            var e = Throws(() => client.CreateChatCompletion(ChatRequest.FromPrompt(Intro)), "no cookie");
            Eq(UstbStatus.AuthError, e.Status, "status");
            Eq(10042L, e.ApiCode, "api code");
            Eq("auth_error", e.Type, "type");
            Eq("请登录", e.ServerMessage, "server message m");
            Eq(200, e.HttpStatus, "http status");
            Check(e.DetailJson.Contains("\"e\":10042"), "detail json " + e.DetailJson);
        }
    }

    private static void AuthErrorOnStreamRead()
    {
        using (var client = Anonymous())
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro))) // sent on first read
        {
            var e = Throws(() => stream.Next(), "first read");
            Eq(UstbStatus.AuthError, e.Status, "status");
            Eq(10042L, e.ApiCode, "api code");
            Eq(UstbStatus.AuthError, Throws(() => stream.Next(), "second read").Status, "error repeats");
        }
    }

    private static void Truncated()
    {
        using (var client = LoggedIn())
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt("q @emu:truncate")))
        {
            int got = 0;
            var e = Throws(() => { foreach (var c in stream) got++; }, "truncated stream");
            Eq(UstbStatus.Truncated, e.Status, "status");
            Eq("truncated", e.Type, "type");
            Check(got > 0, "chunks before the cut: " + got);
        }
        using (var client = LoggedIn())
            Eq(UstbStatus.Truncated, Throws(() => client.CreateChatCompletion(ChatRequest.FromPrompt("q @emu:truncate")), "create").Status, "create status");
    }

    private static void InvalidRequest()
    {
        var r = ChatRequest.FromPrompt("hi");
        r.Messages.Add(new ChatMessage("assistant", "last is not the user"));
        using (var client = LoggedIn())
        {
            Eq(UstbStatus.InvalidRequest, Throws(() => client.StreamChatCompletion(r), "open").Status, "status at open");
            Eq(UstbStatus.InvalidArgument, Throws(() => client.StreamChatCompletion("{\"messages\":"), "bad json").Status, "bad json");
        }
    }

    private static void ConnectError()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop(); // nothing listens there now
        using (var client = new UstbClient(new ClientOptions { BaseUrl = "http://127.0.0.1:" + port, VjuidLogin = "t", MaxRetries = 0 }))
            Eq(UstbStatus.ConnectError, Throws(() => client.CreateChatCompletion(ChatRequest.FromPrompt("hi")), "closed port").Status, "status");
    }

    private static void RequestTimeout()
    {
        var sw = Stopwatch.StartNew();
        using (var client = LoggedIn(",\"timeout_ms\":400"))
            Eq(UstbStatus.Timeout, Throws(() => client.CreateChatCompletion(ChatRequest.FromPrompt("q @emu:silent")), "silent").Status, "status");
        Check(sw.ElapsedMilliseconds < 5000, "timed out quickly: " + sw.ElapsedMilliseconds + " ms");
    }

    private static void CallbackFullReply()
    {
        var chunks = new List<ChatCompletionChunk>();
        using (var client = LoggedIn())
        {
            var status = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro), c => { chunks.Add(c); return true; });
            Eq(UstbStatus.Ok, status, "status");
        }
        var text = Collect(chunks);
        Eq(IntroReasoning, text[0], "reasoning");
        Eq(IntroContent, text[1], "content");
        Eq("stop", text[2], "finish_reason");
    }

    private static void CallbackEarlyStop()
    {
        int calls = 0;
        using (var client = LoggedIn())
        {
            var status = client.StreamChatCompletion(ChatRequest.FromPrompt("q @emu:long=2000"), c => ++calls < 2);
            Eq(UstbStatus.Stopped, status, "status");
        }
        Eq(2, calls, "callback calls");
    }

    private static void CallbackExceptionPropagates()
    {
        using (var client = LoggedIn())
        {
            try
            {
                client.StreamChatCompletion(ChatRequest.FromPrompt(Intro), c => { throw new InvalidTimeZoneException("from callback"); });
                throw new AssertionException("expected the callback's exception");
            }
            catch (InvalidTimeZoneException e) { Eq("from callback", e.Message, "message"); }
            // The client is still fine afterwards.
            Eq(IntroContent, client.CreateChatCompletion(ChatRequest.FromPrompt(Intro)).Choices[0].Message.Content, "after");
        }
    }

    private static void StreamForEach()
    {
        var chunks = new List<ChatCompletionChunk>();
        using (var client = LoggedIn())
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro)))
        {
            Eq(UstbStatus.Ok, stream.ForEach(c => { chunks.Add(c); return true; }), "status");
            Check(stream.Next() == null, "stream ended");
        }
        Eq(IntroContent, Collect(chunks)[1], "content");
    }

    private static void CancelFromOtherThread()
    {
        using (var client = LoggedIn())
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt("q @emu:silent")))
        {
            var first = stream.Next(); // the silent reply sends one event, then nothing for 60 s
            Check(first != null, "one chunk before the silence");
            var canceller = new Thread(() => { Thread.Sleep(300); stream.Cancel(); stream.Cancel(); });
            var sw = Stopwatch.StartNew();
            canceller.Start();
            var e = Throws(() => stream.Next(), "blocked read");
            long ms = sw.ElapsedMilliseconds;
            canceller.Join();
            Eq(UstbStatus.Cancelled, e.Status, "status");
            Check(ms < 5000, "ended by the cancel, not the 60 s silence: " + ms + " ms");
            Eq(UstbStatus.Cancelled, Throws(() => stream.Next(), "later read").Status, "later reads");
        }
    }

    private static void CancellationTokenCancels()
    {
        using (var client = LoggedIn())
        using (var source = new CancellationTokenSource())
        {
            using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt("q @emu:silent"), source.Token))
            {
                Check(stream.Next() != null, "one chunk before the silence");
                source.CancelAfter(300); // fires on a timer thread
                var sw = Stopwatch.StartNew();
                Eq(UstbStatus.Cancelled, Throws(() => stream.Next(), "blocked read").Status, "status");
                Check(sw.ElapsedMilliseconds < 5000, "ended by the token: " + sw.ElapsedMilliseconds + " ms");
            }
            // An already-cancelled token cancels before the first read; cancelling a token after
            // its stream was disposed is a no-op.
            using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro), source.Token))
                Eq(UstbStatus.Cancelled, Throws(() => stream.Next(), "read with a cancelled token").Status, "status");
            using (var late = new CancellationTokenSource())
            {
                client.StreamChatCompletion(ChatRequest.FromPrompt(Intro), late.Token).Dispose();
                late.Cancel();
            }
        }
    }

    private static void DisposeWhileReading()
    {
        using (var client = LoggedIn())
        {
            var stream = client.StreamChatCompletion(ChatRequest.FromPrompt("q @emu:silent"));
            Exception seen = null;
            var firstChunk = new ManualResetEvent(false);
            var reader = new Thread(() =>
            {
                try { foreach (var c in stream) firstChunk.Set(); } // then blocks in the silence
                catch (Exception e) { seen = e; }
            });
            reader.Start();
            Check(firstChunk.WaitOne(5000), "first chunk read");
            Thread.Sleep(200);
            var sw = Stopwatch.StartNew();
            stream.Dispose(); // cancels the read; the native free waits until it has returned
            stream.Cancel();  // no-op after Dispose, must not touch the freed stream
            Check(reader.Join(5000), "reader returned promptly");
            Check(sw.ElapsedMilliseconds < 5000, "quick: " + sw.ElapsedMilliseconds + " ms");
            var ue = seen as UstbException;
            Check(ue != null && ue.Status == UstbStatus.Cancelled, "reader saw Cancelled, got " + seen);
        }
    }

    private static void CancelAndReadAfterDispose()
    {
        using (var client = LoggedIn())
        {
            var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro));
            stream.Dispose();
            stream.Dispose();
            stream.Cancel();
            try { stream.Next(); throw new AssertionException("read after Dispose"); }
            catch (ObjectDisposedException) { }
        }
        // A stream may outlive its client.
        ChatStream s;
        using (var client = LoggedIn()) s = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro));
        using (s) Eq(IntroContent, Collect(s)[1], "stream after client disposed");
    }

    private static void ConcurrentStreamsOneClient()
    {
        using (var client = LoggedIn())
        {
            var errors = new List<string>();
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                for (int i = 0; i < 10; i++)
                {
                    string prompt = "t" + t + "-" + i;
                    try
                    {
                        using (var s = client.StreamChatCompletion(ChatRequest.FromPrompt(prompt)))
                        {
                            var got = Collect(s)[1];
                            if (got != IntroContent + "你说：「" + prompt + "」") lock (errors) errors.Add(got);
                        }
                    }
                    catch (Exception e) { lock (errors) errors.Add(e.ToString()); }
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Eq(0, errors.Count, "errors: " + string.Join(" | ", errors));
        }
    }

    private static void CookiesAndUserInfo()
    {
        using (var client = Anonymous())
        {
            Check(client.GetCookies().EasySession == null, "no session before");
            var info = (Dictionary<string, object>)Json.Parse(client.GetUserInfoJson());
            Eq("游客", Json.GetString(info, "user_name"), "visitor profile");
            var session = client.GetCookies().EasySession;
            Check(session != null && session.Length == 32, "server-issued easy_session kept: " + session);
        }
    }

    private static Dictionary<string, object> Obj(string json) { return (Dictionary<string, object>)Json.Parse(json); }

    private static List<object> List(string json) { return (List<object>)Json.Parse(json); }

    private static void PlatformEndpoints()
    {
        using (var client = LoggedIn())
        {
            var site = Obj(client.GetWebInfoJson());
            Eq(true, (bool)Json.Get(site, "isCas"), "isCas");
            Eq("cookie_vjuid_login", Json.GetString(site, "cookie_login_key"), "cookie_login_key");
            var ids = List(client.GetAppsJson()).Select(a => Json.GetLong((Dictionary<string, object>)a, "id")).ToList();
            Eq("3,5", string.Join(",", ids), "application ids");
            Eq("通义千问", Json.GetString(Obj(client.GetAppDetailJson(5)), "name"), "detail of 5");
            Eq(3L, Json.GetLong(Obj(client.GetAppDetailJson()), "id"), "0 is the client's default application");
            using (var qwen = LoggedIn(",\"compose_id\":5"))
                Eq(5L, Json.GetLong(Obj(qwen.GetAppDetailJson()), "id"), "the compose_id option is the default");
            var settings = Obj(client.GetPageSettingsJson(3));
            var choices = Json.GetList(Json.GetObject(Json.GetObject(settings, "model_select"), "model_content"), "value");
            Eq("DeepSeek", Json.GetString((Dictionary<string, object>)choices[0], "value"), "selectable model");
            Check(Json.GetObject(settings, "deepThinking_select") != null, "deepThinking_select");
            var sid = client.NewSessionId();
            Check(Regex.IsMatch(sid, "^[0-9a-f]{32}$"), "session id " + sid);

            // Three chats make the three newest sessions (the emulator's list is shared by all tests).
            string tag = "会话" + Process.GetCurrentProcess().Id + "-";
            foreach (var n in new[] { "1", "2", "3" }) client.CreateChatCompletion(ChatRequest.FromPrompt(tag + n));
            Func<string, List<Dictionary<string, object>>> sessions = json => List(json).Cast<Dictionary<string, object>>().ToList();
            var first = sessions(client.GetSessionsJson(1, 2));
            Eq(tag + "3," + tag + "2", string.Join(",", first.Select(x => Json.GetString(x, "last_content"))), "page 1 of 2");
            Eq(tag + "1", Json.GetString(sessions(client.GetSessionsJson(2, 2))[0], "last_content"), "page 2 of 2");
            var newest = Json.GetString(first[0], "sess_id");

            var history = sessions(client.GetChatHistoryJson(newest));
            Eq("user,assistant", string.Join(",", history.Select(m => Json.GetString(m, "role"))), "history roles");
            Eq(tag + "3", Json.GetString(history[0], "content"), "question in the history");
            Check(Json.GetString(history[1], "content").Contains(tag + "3"), "answer in the history");

            client.DeleteSession(newest);
            Eq(0, List(client.GetChatHistoryJson(newest)).Count, "history of a deleted session");
            Eq(tag + "2", Json.GetString(sessions(client.GetSessionsJson(1, 1))[0], "last_content"), "newest after the delete");
            client.DeleteSession("0123456789abcdef0123456789abcdef"); // unknown: no error
            using (var source = new CancellationTokenSource())
                Eq(true, (bool)Json.Get(Obj(client.GetWebInfoJson(source.Token)), "isCas"), "a call with a live token");
        }
    }

    private static void ModelsList()
    {
        using (var client = LoggedIn())
        {
            var models = client.ListModels();
            Eq("list", models.Object, "object");
            Eq(1, models.Data.Count, "one model for DeepSeek");
            var m = models.Data[0];
            Eq("DeepSeek", m.Id, "id");
            Eq("model", m.Object, "model object");
            Eq("ustb", m.OwnedBy, "owned_by");
            Eq(0L, m.Created, "created");
            Eq("DeepSeek", m.Label, "label");
            Eq(3L, m.ComposeId, "compose_id");
            Eq(models.Json, client.ListModelsJson(3), "raw JSON, 0 is the default application");
            var qwen = client.ListModels(5);
            Eq("qwen-max,qwen-plus", string.Join(",", qwen.Data.Select(x => x.Id)), "qwen ids");
            Eq("通义千问-Max", qwen.Data[0].Label, "qwen label");
            var e = Throws(() => client.ListModels(99), "unknown application");
            Eq(UstbStatus.ApiError, e.Status, "status");
            Eq(1L, e.ApiCode, "api code");
            // A listed id works as a request's model.
            Eq(IntroContent, client.CreateChatCompletion(ChatRequest.FromPrompt(Intro, m.Id)).Choices[0].Message.Content, "chat with it");
        }
        using (var guest = Anonymous()) Eq("DeepSeek", guest.ListModels().Data[0].Id, "no login needed");
    }

    /// <summary>A port where connections are accepted by the kernel but never answered.</summary>
    private static TcpListener SilentServer()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return l;
    }

    private static int ClosedPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static void LoginStates()
    {
        using (var client = LoggedIn())
        {
            var s = client.GetLoginState();
            Eq(LoginStatus.LoggedIn, s.State, "logged in: " + s.Json);
            Check(s.IsLoggedIn, "IsLoggedIn");
            Eq((int?)200, s.HttpStatus, "http status");
            Eq(null, s.Error, "no error");
        }
        using (var client = Anonymous())
        {
            var s = client.GetLoginState();
            Eq(LoginStatus.LoggedOut, s.State, "no cookie: " + s.Json);
            Eq((int?)302, s.HttpStatus, "redirect to the sign-in");
            Check(!s.IsLoggedIn && s.Detail.Contains("vjuid_login"), "detail " + s.Detail);
        }
        using (var client = new UstbClient(new ClientOptions { BaseUrl = "http://127.0.0.1:" + ClosedPort(), VjuidLogin = "t", MaxRetries = 0 }))
        {
            var s = client.GetLoginState();
            Eq(LoginStatus.Unreachable, s.State, "closed port: " + s.Json);
            Eq("connect_error", s.Error, "error type");
            Eq(null, s.HttpStatus, "no http status");
            Check(!string.IsNullOrEmpty(s.Detail), "detail");
        }
        var silent = SilentServer();
        try
        {
            var url = "http://127.0.0.1:" + ((IPEndPoint)silent.LocalEndpoint).Port;
            using (var client = new UstbClient(new ClientOptions { BaseUrl = url, VjuidLogin = "t", MaxRetries = 0, IdleTimeoutMs = 300 }))
            {
                var s = client.GetLoginState();
                Eq(LoginStatus.Unreachable, s.State, "silent server: " + s.Json);
                Eq("timeout", s.Error, "error type");
            }
        }
        finally { silent.Stop(); }
    }

    private static void LoggedOutEndpoints()
    {
        using (var client = Anonymous())
        {
            var failures = new[]
            {
                Throws(() => client.GetSessionsJson(), "sessions"),
                Throws(() => client.GetChatHistoryJson("abc"), "history"),
                Throws(() => client.DeleteSession("abc"), "delete"),
                Throws(() => client.NewSessionId(), "new session id"),
            };
            foreach (var e in failures)
            {
                Eq(UstbStatus.AuthError, e.Status, "status of " + e.Message);
                Eq(10042L, e.ApiCode, "api code");
                Eq("请登录", e.ServerMessage, "m");
            }
            // The public ones still answer.
            Check(client.GetWebInfoJson().Contains("isCas"), "web info");
            Check(client.GetAppsJson().StartsWith("[", StringComparison.Ordinal), "apps");
        }
    }

    private static void EndpointBadArguments()
    {
        using (var client = LoggedIn())
        {
            var bad = new Dictionary<string, Action>
            {
                { "sessions(0, 10)", () => client.GetSessionsJson(0, 10) },
                { "sessions(1, 101)", () => client.GetSessionsJson(1, 101) },
                { "sessions(-1, 10)", () => client.GetSessionsJson(-1, 10) },
                { "sessions(1, -5)", () => client.GetSessionsJson(1, -5) },
                { "history('a b')", () => client.GetChatHistoryJson("a b") },
                { "history(null)", () => client.GetChatHistoryJson(null) },
                { "delete('')", () => client.DeleteSession("") },
                { "delete('中文')", () => client.DeleteSession("中文") },
                { "app_detail(-1)", () => client.GetAppDetailJson(-1) },
                { "page_settings(-1)", () => client.GetPageSettingsJson(-1) },
                { "models(long.MinValue)", () => client.ListModels(long.MinValue) },
                { "new_session_id(-3)", () => client.NewSessionId(-3) },
            };
            foreach (var b in bad) Eq(UstbStatus.InvalidArgument, Throws(b.Value, b.Key).Status, b.Key);
            Check(Throws(() => client.DeleteSession("a&b"), "delete('a&b')").Message.Contains("session_id"), "message names session_id");
            Eq(0, List(client.GetSessionsJson(100000, 100)).Count, "far past the last page");
        }
    }

    private static void EndpointCancel()
    {
        var silent = SilentServer();
        try
        {
            var url = "http://127.0.0.1:" + ((IPEndPoint)silent.LocalEndpoint).Port;
            using (var client = new UstbClient(new ClientOptions { BaseUrl = url, VjuidLogin = "t", MaxRetries = 0, IdleTimeoutMs = 60000 }))
            using (var source = new CancellationTokenSource())
            {
                source.CancelAfter(300); // fires on a timer thread
                var sw = Stopwatch.StartNew();
                var e = Throws(() => client.GetWebInfoJson(source.Token), "blocked call");
                Eq(UstbStatus.Cancelled, e.Status, "status");
                Check(sw.ElapsedMilliseconds >= 250 && sw.ElapsedMilliseconds < 5000, "ended by the token: " + sw.ElapsedMilliseconds + " ms");
                // An already-cancelled token cancels at once, for every kind of call.
                sw.Restart();
                Eq(UstbStatus.Cancelled, Throws(() => client.GetLoginState(source.Token), "login state").Status, "login state");
                Eq(UstbStatus.Cancelled, Throws(() => client.GetSessionsJson(1, 10, source.Token), "sessions").Status, "sessions");
                Eq(UstbStatus.Cancelled, Throws(() => client.ListModels(0, source.Token), "models").Status, "models");
                Check(sw.ElapsedMilliseconds < 2000, "at once: " + sw.ElapsedMilliseconds + " ms");
            }
            // Without a token the same call is bounded by the timeouts.
            using (var client = new UstbClient(new ClientOptions { BaseUrl = url, VjuidLogin = "t", MaxRetries = 0, IdleTimeoutMs = 300 }))
                Eq(UstbStatus.Timeout, Throws(() => client.GetAppsJson(), "silent, no token").Status, "timeout");
        }
        finally { silent.Stop(); }
        // Cancelling the token of a call that completed is a no-op.
        using (var client = LoggedIn())
        using (var source = new CancellationTokenSource())
        {
            client.GetAppsJson(source.Token);
            source.Cancel();
            Check(client.GetAppsJson().StartsWith("[", StringComparison.Ordinal), "client fine after");
        }
    }

    private const string WeatherSchema = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}";
    private const string TwoCalls = "北京天气和时间？@emu:tool=get_weather:{\"city\": \"北京\"} @emu:tool=now";

    private static ChatRequest WithTools(string prompt)
    {
        var r = ChatRequest.FromPrompt(prompt);
        r.Tools.Add(new Tool("get_weather", "查询城市天气", WeatherSchema));
        r.Tools.Add(new Tool { Name = "now", Description = "现在的时间" });
        return r;
    }

    private static string Named(IEnumerable<ToolCall> calls)
    {
        return string.Join(" | ", calls.Select(c => c.Function.Name + " " + c.Function.Arguments));
    }

    private static void ToolCallStream()
    {
        using (var client = LoggedIn())
        using (var stream = client.StreamChatCompletion(WithTools(TwoCalls)))
        {
            var chunks = stream.ToList();
            var text = Collect(chunks);
            Eq("好的，我来调用工具。\n", text[1], "text around the calls");
            Eq("tool_calls", text[2], "finish_reason");
            // The deltas as OpenAI streams them: a call's first delta has id, type and name with
            // empty arguments; later ones only index and an arguments fragment.
            int firsts = 0;
            foreach (var d in chunks.Where(c => c.Choices.Count > 0 && c.Choices[0].Delta.ToolCalls != null).SelectMany(c => c.Choices[0].Delta.ToolCalls))
            {
                if (d.Id != null)
                {
                    Eq(firsts++, d.Index, "calls numbered from 0");
                    Eq("function", d.Type, "type");
                    Check(d.Function.Name != null && d.Function.Arguments == "", "first delta: name, empty arguments");
                }
                else Check(d.Type == null && d.Function.Name == null && d.Function.Arguments != null, "later delta: arguments only");
            }
            Eq(2, firsts, "two calls");
            var calls = ToolCall.Assemble(chunks);
            Eq("get_weather {\"city\":\"北京\"} | now {}", Named(calls), "assembled calls");
            Check(calls.All(c => c.Id.StartsWith("call_", StringComparison.Ordinal) && c.Type == "function"), "ids and types");
            Check(calls[0].Id != calls[1].Id, "distinct ids");
        }
        // No tools: no tool_calls on any delta.
        using (var client = LoggedIn())
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro)))
            Check(stream.All(c => c.Choices.Count == 0 || c.Choices[0].Delta.ToolCalls == null), "no tool_calls without tools");
    }

    private static void ToolCallCreateAndLoop()
    {
        using (var client = LoggedIn())
        {
            var c = client.CreateChatCompletion(WithTools(TwoCalls));
            Eq("tool_calls", c.Choices[0].FinishReason, "finish_reason");
            Eq("get_weather {\"city\":\"北京\"} | now {}", Named(c.Choices[0].Message.ToolCalls), "message.tool_calls");
            Eq("好的，我来调用工具。\n", c.Choices[0].Message.Content, "content");
            var bare = client.CreateChatCompletion(WithTools(TwoCalls + " @emu:tool-bare"));
            Eq(null, bare.Choices[0].Message.Content, "only calls: content null");
            Eq(null, client.CreateChatCompletion(WithTools("你好")).Choices[0].Message.ToolCalls, "no call: no tool_calls");

            TwoStepLoop(client, "北京天气？@emu:tool=get_weather:{\"city\": \"北京\"}");
        }
    }

    // Issue 17: the loop runs the same whatever markup the model writes its call in (the
    // emulator's @emu:tool-form=FORM): XML invocations, DeepSeek's special tokens, a call in
    // the reasoning.
    private static void ToolLoopEveryForm()
    {
        using (var client = LoggedIn())
            foreach (var form in new[] { "invoke", "special", "reasoning" })
                TwoStepLoop(client, "北京天气？@emu:tool=get_weather:{\"city\":\"北京\"} @emu:tool-form=" + form);
    }

    // Two steps: the model asks for the tool, the program runs it and sends the result back.
    private static void TwoStepLoop(UstbClient client, string prompt)
    {
        var request = ChatRequest.FromPrompt(prompt);
        request.Messages.Insert(0, new ChatMessage("system", "你是助手。"));
        request.Tools.Add(new Tool("get_weather", "查询城市天气", WeatherSchema));
        var first = client.CreateChatCompletion(request).Choices[0];
        Eq("tool_calls", first.FinishReason, prompt + ": step 1 finish");
        var step1 = first.Message;
        Check(step1.Content.IndexOfAny("<｜`{".ToCharArray()) < 0, prompt + ": no markup in the text: " + step1.Content);
        var call = step1.ToolCalls.Single();
        Eq("get_weather", call.Function.Name, prompt + ": asked for");
        Eq("北京", Json.GetString(Obj(call.Function.Arguments), "city"), prompt + ": argument");
        request.Messages.Add(step1);
        request.Messages.Add(ChatMessage.ToolResult(call.Id, "晴，25°C"));
        var step2 = client.CreateChatCompletion(request);
        Eq("根据工具 get_weather 的结果：晴，25°C", step2.Choices[0].Message.Content, prompt + ": answer");
        Eq("stop", step2.Choices[0].FinishReason, prompt + ": finish");
        Eq(null, step2.Choices[0].Message.ToolCalls, prompt + ": no further call");
        // An assistant message carrying only calls goes out with "content": null.
        step1.Content = null;
        Check(request.ToJson().Contains("\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"" + call.Id + "\""), request.ToJson());
        using (var stream = client.StreamChatCompletion(request))
            Eq("根据工具 get_weather 的结果：晴，25°C", Collect(stream)[1], prompt + ": answer, streamed");
    }

    private static void ToolChoiceOptions()
    {
        using (var client = LoggedIn())
        {
            var r = WithTools("@emu:tool=now");
            r.ToolChoice = ToolChoice.None;
            var c = client.CreateChatCompletion(r).Choices[0];
            Check(c.Message.ToolCalls == null && c.Message.Content.EndsWith("</tool_call>", StringComparison.Ordinal), "none: markup stays text: " + c.Message.Content);
            foreach (var choice in new[] { ToolChoice.Auto, ToolChoice.Required, ToolChoice.Function("now") })
            {
                r.ToolChoice = choice;
                r.ParallelToolCalls = false;
                Eq("now {}", Named(client.CreateChatCompletion(r).Choices[0].Message.ToolCalls), "tool_choice " + choice.ToJson());
            }
            r.ToolChoice = ToolChoice.Function("missing");
            var e = Throws(() => client.CreateChatCompletion(r), "unlisted function");
            Eq(UstbStatus.InvalidRequest, e.Status, "status");
            Check(e.Message.Contains("not in"), e.Message);
            var noTools = ChatRequest.FromPrompt("hi");
            noTools.ToolChoice = ToolChoice.Required;
            Eq(UstbStatus.InvalidRequest, Throws(() => client.StreamChatCompletion(noTools), "required without tools").Status, "status");
        }
    }

    private static void LoggingRouted()
    {
        const string Secret = "log-secret-cookie-value";
        var lines = new List<LogEventArgs>();
        EventHandler<LogEventArgs> handler = (s, e) => { lock (lines) lines.Add(e); };
        Func<List<LogEventArgs>> take = () => { lock (lines) { var l = lines.ToList(); lines.Clear(); return l; } };
        Eq(UstbLogLevel.Info, UstbClient.LogLevel, "default level");
        UstbClient.Log += handler;
        try
        {
            using (var client = LoggedIn())
            using (var secret = new UstbClient(new ClientOptions { BaseUrl = _baseUrl, VjuidLogin = Secret, IdleTimeoutMs = 20000 }))
            {
                secret.GetWebInfoJson();
                secret.CreateChatCompletion(ChatRequest.FromPrompt(Intro));
                var got = take();
                Check(got.Any(l => l.Level == UstbLogLevel.Info && l.Message.Contains("/common/web_info")), "an info line for the request: " + Dump(got));
                Check(got.Any(l => l.Message.Contains("compose_chat")), "a line for the chat: " + Dump(got));
                Check(got.All(l => l.Level >= UstbLogLevel.Error && l.Level <= UstbLogLevel.Info), "levels up to Info: " + Dump(got));
                Check(got.All(l => !l.Message.Contains(Secret)), "no cookie value in any line");

                // Debug adds every attempt; lines from several threads at once all arrive.
                UstbClient.LogLevel = UstbLogLevel.Debug;
                var threads = Enumerable.Range(0, 4).Select(i => new Thread(() => client.GetAppsJson())).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                got = take();
                Eq(4, got.Count(l => l.Level == UstbLogLevel.Info && l.Message.Contains("compose_list")), "one info line per thread: " + Dump(got));
                Check(got.Any(l => l.Level == UstbLogLevel.Debug), "debug lines: " + Dump(got));
            }
            // Warn: a refused connection's retries, and no info lines.
            UstbClient.LogLevel = UstbLogLevel.Warn;
            using (var refused = new UstbClient(new ClientOptions { BaseUrl = "http://127.0.0.1:" + ClosedPort(), VjuidLogin = "t", MaxRetries = 1 }))
                Throws(() => refused.GetWebInfoJson(), "refused");
            var warned = take();
            Check(warned.Count > 0 && warned.All(l => l.Level <= UstbLogLevel.Warn && l.Level >= UstbLogLevel.Error), "warn lines only: " + Dump(warned));
            Check(warned.Any(l => l.Message.Contains("retr")), "a retry is logged: " + Dump(warned));
            // Off: nothing.
            UstbClient.LogLevel = UstbLogLevel.Off;
            using (var client = LoggedIn()) client.GetWebInfoJson();
            Eq(0, take().Count, "nothing at Off");
        }
        finally
        {
            UstbClient.Log -= handler;
            UstbClient.LogLevel = UstbLogLevel.Info;
        }
        // Unsubscribed: nothing more arrives.
        using (var client = LoggedIn()) client.GetWebInfoJson();
        Eq(0, take().Count, "nothing after unsubscribing");
        try { UstbClient.LogLevel = (UstbLogLevel)7; throw new AssertionException("level 7 accepted"); }
        catch (ArgumentOutOfRangeException) { }
    }

    private static string Dump(IEnumerable<LogEventArgs> lines)
    {
        return string.Join("\n", lines.Select(l => l.Level + " " + l.Message));
    }

    private static void LoggingHandlerMisuse()
    {
        int calls = 0;
        Exception inside = null;
        EventHandler<LogEventArgs> thrower = (s, e) => { throw new InvalidTimeZoneException("from a log handler"); };
        EventHandler<LogEventArgs> counter = (s, e) =>
        {
            Interlocked.Increment(ref calls);
            try { UstbClient.Log += (s2, e2) => { }; }
            catch (InvalidOperationException x) { inside = x; }
        };
        UstbClient.Log += thrower;
        UstbClient.Log += counter;
        try
        {
            using (var client = LoggedIn())
                Check(client.GetWebInfoJson().Contains("isCas"), "the call succeeds although a handler throws");
        }
        finally
        {
            UstbClient.Log -= thrower;
            UstbClient.Log -= counter;
        }
        Check(calls > 0, "the next handler still ran");
        Check(inside != null, "subscribing from inside a handler is refused");
    }

    private static long RssBytes()
    {
        // /proc/self/statm: size resident shared ... (in pages)
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1]) * Environment.SystemPageSize;
    }

    private static long SettledRss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return RssBytes();
    }

    /// <summary>One round of every path that hands out a string or error: chunks, a completion,
    /// an error from open, from a read and from create, and a cancelled stream.</summary>
    private static void Round(UstbClient client, UstbClient anon, int i)
    {
        // ~600 characters at 4 per event: ~170 chunks (about 45 KB of chunk JSON) per stream, so
        // a chunk string leaked per read would add ~13 MB over 300 rounds.
        using (var s = client.StreamChatCompletion(ChatRequest.FromPrompt("r" + i + " @emu:long=600")))
            if (Collect(s)[2] != "stop") throw new AssertionException("round " + i + " did not finish");
        if (i % 5 == 0)
        {
            client.CreateChatCompletion(ChatRequest.FromPrompt(Intro));
            Throws(() => anon.CreateChatCompletion(ChatRequest.FromPrompt(Intro)), "auth");
            Throws(() => client.StreamChatCompletion("{\"messages\":[]}"), "invalid");
            using (var s = client.StreamChatCompletion(ChatRequest.FromPrompt("q @emu:truncate")))
                Throws(() => Collect(s), "truncated");
            client.StreamChatCompletion(ChatRequest.FromPrompt(Intro), c => false);
            client.GetCookies();
        }
    }

    private static void NoGrowth()
    {
        const int Warmup = 60, Rounds = 300;
        const long BoundBytes = 4L << 20;
        using (var client = LoggedIn())
        using (var anon = Anonymous())
        {
            for (int i = 0; i < Warmup; i++) Round(client, anon, i);
            long before = SettledRss();
            long heapBefore = GC.GetTotalMemory(true);
            for (int i = 0; i < Rounds; i++) Round(client, anon, Warmup + i);
            long after = SettledRss();
            long heapAfter = GC.GetTotalMemory(true);
            Console.WriteLine("      rss {0:F1} MiB -> {1:F1} MiB, managed heap {2:F1} MiB -> {3:F1} MiB over {4} rounds",
                before / 1048576.0, after / 1048576.0, heapBefore / 1048576.0, heapAfter / 1048576.0, Rounds);
            Check(after - before < BoundBytes, "RSS grew by " + (after - before) + " bytes (bound " + BoundBytes + ")");
        }
    }

    private static void ExampleProgram()
    {
        string exe = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "Example.exe");
        Check(File.Exists(exe), "Example.exe built next to Tests.exe");
        var psi = new ProcessStartInfo("mono", "\"" + exe + "\" --base-url " + _baseUrl + " --cookie cookie_vjuid_login=demo " + Intro)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            StandardOutputEncoding = Encoding.UTF8,
        };
        using (var p = Process.Start(psi))
        {
            string output = p.StandardOutput.ReadToEnd();
            Check(p.WaitForExit(20000), "example exited");
            Eq(0, p.ExitCode, "exit code");
            Eq("【思考】\n" + IntroReasoning + "\n\n【回答】\n" + IntroContent + "\n", output, "output");
        }
    }

    // ---- login (ustb_login, issue 11) ----

    private const string DefaultQrScript = "scan@800,confirm@1600";

    private static LoginOptions LoginOptionsFor(string url)
    {
        return new LoginOptions { BaseUrl = url, SsoBaseUrl = url, SisBaseUrl = url, MaxRetries = 0, IdleTimeoutMs = 20000 };
    }

    private static UstbLogin NewLogin() { return new UstbLogin(LoginOptionsFor(_baseUrl)); }

    private sealed class Restore : IDisposable
    {
        private readonly Action _undo;
        public Restore(Action undo) { _undo = undo; }
        public void Dispose() { _undo(); }
    }

    /// <summary>Sets the emulator's QR script for the QR codes made from now on; disposing the
    /// result puts the default back (the tests run one at a time).</summary>
    private static IDisposable QrScript(string script)
    {
        PostQrScript(script);
        return new Restore(() => PostQrScript(DefaultQrScript));
    }

    private static void PostQrScript(string script)
    {
        using (var web = new WebClient())
        {
            web.Headers[HttpRequestHeader.ContentType] = "text/plain";
            web.UploadString(_baseUrl + "/emulator/sso/qr-script", "POST", script); // non-2xx throws
        }
    }

    /// <summary>Waits until the login reaches a final state (Confirmed or Expired), at most
    /// `rounds` waits; returns every state seen, in order.</summary>
    private static List<QrState> WaitUntilFinal(UstbLogin login, int rounds = 20)
    {
        var seen = new List<QrState>();
        for (int i = 0; i < rounds; i++)
        {
            var state = login.WaitQr(TimeSpan.FromSeconds(5));
            seen.Add(state);
            if (state == QrState.Confirmed || state == QrState.Expired) return seen;
        }
        throw new AssertionException("no final state after " + rounds + " waits: " + string.Join(",", seen));
    }

    private static bool IsPng(byte[] b)
    {
        return b.Length > 8 && b[0] == 0x89 && b[1] == (byte)'P' && b[2] == (byte)'N' && b[3] == (byte)'G';
    }

    /// <summary>The new client chats (the emulator wants the login cookie for that).</summary>
    private static void ChatWorks(UstbClient client)
    {
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(Intro)))
            Eq(IntroContent, Collect(stream)[1], "chat with the logged-in client");
    }

    /// <summary>QrState against ustb_login_state in the header (USTB_LOGIN_WAITING is Waiting, …).</summary>
    private static void LoginStateValuesMatchHeader()
    {
        var header = Regex.Replace(File.ReadAllText(Path.Combine(Environment.GetEnvironmentVariable("USTB_INCLUDE_DIR"), "ustb_openai.h")),
                                   @"/\*.*?\*/", "", RegexOptions.Singleline);
        var body = Regex.Match(header, @"typedef enum \{([^}]*)\} ustb_login_state;");
        Check(body.Success, "ustb_login_state enum in the header");
        var declared = Regex.Matches(body.Groups[1].Value, @"\bUSTB_LOGIN_(\w+)\s*=\s*(\d+)").Cast<Match>()
            .ToDictionary(m => m.Groups[1].Value.Substring(0, 1) + m.Groups[1].Value.Substring(1).ToLowerInvariant(), m => int.Parse(m.Groups[2].Value));
        var mine = Enum.GetValues(typeof(QrState)).Cast<QrState>().ToDictionary(v => v.ToString(), v => (int)v);
        Eq(string.Join(",", declared.OrderBy(d => d.Key)), string.Join(",", mine.OrderBy(d => d.Key)), "names and values");
        Check(Regex.IsMatch(header, @"#define USTB_PUZZLE_AUTO " + UstbLogin.PuzzleAuto + @"\b"), "USTB_PUZZLE_AUTO is PuzzleAuto");
    }

    private static void LoginOptionsJson()
    {
        var json = new LoginOptions { BaseUrl = "http://a", SsoBaseUrl = "http://s", SisBaseUrl = "http://q", CaFile = "/x.pem", MaxRetries = 0 }.ToJson();
        var o = (Dictionary<string, object>)Json.Parse(json);
        Eq("http://a", Json.GetString(o, "base_url"), "base_url");
        Eq("http://s", Json.GetString(o, "sso_base_url"), "sso_base_url");
        Eq("http://q", Json.GetString(o, "sis_base_url"), "sis_base_url");
        Eq("/x.pem", Json.GetString(o, "ca_file"), "ca_file");
        Eq(0L, Json.GetLong(o, "max_retries"), "max_retries");
        using (new UstbLogin()) { }
        using (new UstbLogin(LoginOptionsFor(_baseUrl))) { }
        var e = Throws(() => new UstbLogin("{\"bogus\":1}"), "unknown key");
        Eq(UstbStatus.InvalidArgument, e.Status, "unknown key status");
        Check(e.Message.Contains("bogus"), "names the key: " + e.Message);
        Eq(UstbStatus.InvalidArgument, Throws(() => new UstbLogin(new LoginOptions { CaFile = "/nonexistent/ca.pem" }), "ca_file").Status, "unreadable ca_file");
    }

    /// <summary>Every call that needs an earlier step refuses with InvalidArgument, sending nothing.</summary>
    private static void LoginCallsBeforeStart()
    {
        var silent = SilentServer();
        try
        {
            var url = "http://127.0.0.1:" + ((IPEndPoint)silent.LocalEndpoint).Port;
            using (var login = new UstbLogin(LoginOptionsFor(url)))
            using (var client = new UstbClient(new ClientOptions { BaseUrl = url }))
            {
                var calls = new Dictionary<string, Action>
                {
                    { "qr png", () => login.GetQrPng() },
                    { "qr text", () => login.GetQrText() },
                    { "qr page url", () => login.GetQrPageUrl() },
                    { "qr wait", () => login.WaitQr(TimeSpan.FromMilliseconds(100)) },
                    { "puzzle images", () => login.GetPuzzleImages() },
                    { "puzzle solve", () => login.SolvePuzzle() },
                    { "sms send with x but no puzzle", () => login.SendSms("13800000000", 40) },
                    { "sms submit", () => login.SubmitSms("123456") },
                    { "cookie", () => login.GetCookie() },
                    { "client", () => login.CreateClient() },
                    { "install", () => login.Install(client) },
                };
                foreach (var c in calls)
                    Eq(UstbStatus.InvalidArgument, Throws(c.Value, c.Key).Status, c.Key);
                Check(!silent.Pending(), "nothing was sent");
            }
        }
        finally { silent.Stop(); }
    }

    private static void LoginUseAfterDispose()
    {
        var login = NewLogin();
        login.Dispose();
        login.Dispose(); // twice is fine
        var calls = new Dictionary<string, Action>
        {
            { "start", () => login.StartQr() },
            { "png", () => login.GetQrPng() },
            { "text", () => login.GetQrText() },
            { "url", () => login.GetQrPageUrl() },
            { "wait", () => login.WaitQr(TimeSpan.FromMilliseconds(10)) },
            { "puzzle", () => login.FetchPuzzle() },
            { "images", () => login.GetPuzzleImages() },
            { "solve", () => login.SolvePuzzle() },
            { "send", () => login.SendSms("13800000001") },
            { "submit", () => login.SubmitSms("000001") },
            { "cookie", () => login.GetCookie() },
            { "client", () => login.CreateClient() },
            { "install", () => { using (var c = LoggedIn()) login.Install(c); } },
        };
        foreach (var c in calls)
        {
            try { c.Value(); throw new AssertionException(c.Key + ": no exception after Dispose"); }
            catch (ObjectDisposedException) { }
        }
    }

    private static void LoginQrHappyPath()
    {
        using (QrScript(DefaultQrScript))
        using (var login = NewLogin())
        {
            login.StartQr();
            Check(IsPng(login.GetQrPng()), "QR code PNG");
            var text = login.GetQrText();
            Check(text.Split('\n').Length > 10 && text.IndexOfAny(new[] { '█', '▀', '▄' }) >= 0, "QR code as half blocks:\n" + text);
            Check(login.GetQrPageUrl().StartsWith("http://127.0.0.1:", StringComparison.Ordinal), "page on the emulator");
            Eq(UstbStatus.InvalidArgument, Throws(() => login.GetCookie(), "cookie before confirmed").Status, "no cookie yet");
            var seen = WaitUntilFinal(login);
            int scanned = seen.IndexOf(QrState.Scanned);
            Check(scanned >= 0 && seen.Last() == QrState.Confirmed, "scanned then confirmed: " + string.Join(",", seen));
            Eq(QrState.Confirmed, login.WaitQr(TimeSpan.FromSeconds(5)), "confirmed repeats");
            Check(login.GetCookie().Length > 0, "a cookie");
            using (var client = login.CreateClient())
            {
                Eq(login.GetCookie(), client.GetCookies().VjuidLogin, "the client carries the cookie");
                ChatWorks(client);
            }
        }
    }

    private static void LoginQrExpiryAndRenewal()
    {
        using (QrScript("expire@200;scan@100,confirm@300"))
        using (var login = NewLogin())
        {
            login.StartQr();
            var first = login.GetQrPng();
            Eq(QrState.Expired, WaitUntilFinal(login).Last(), "the first code expires");
            Eq(QrState.Expired, login.WaitQr(TimeSpan.FromSeconds(5)), "expired repeats");
            login.StartQr(); // renewal
            Check(!first.SequenceEqual(login.GetQrPng()), "a new QR code");
            var seen = WaitUntilFinal(login);
            Eq(QrState.Confirmed, seen.Last(), "the renewed code is confirmed: " + string.Join(",", seen));
            using (var client = login.CreateClient()) ChatWorks(client);
        }
    }

    private static void LoginQrInvalid()
    {
        using (QrScript("invalid@100"))
        using (var login = NewLogin())
        {
            login.StartQr();
            var e = Throws(() => WaitUntilFinal(login), "invalid QR session");
            Eq(UstbStatus.AuthError, e.Status, "status");
            Eq(UstbStatus.InvalidArgument, Throws(() => login.GetCookie(), "cookie").Status, "no cookie");
        }
    }

    /// <summary>A 60 s wait on a code nobody scans ends promptly when its token is cancelled on
    /// another thread; an already-cancelled token ends the next call at once.</summary>
    private static void LoginQrWaitCancel()
    {
        using (QrScript("scan@60000"))
        using (var login = NewLogin())
        using (var source = new CancellationTokenSource())
        {
            login.StartQr();
            Exception seen = null;
            var sw = new Stopwatch();
            var waiter = new Thread(() =>
            {
                try { login.WaitQr(TimeSpan.FromSeconds(60), source.Token); }
                catch (Exception e) { seen = e; }
                sw.Stop();
            });
            waiter.Start();
            Thread.Sleep(500); // the wait is in its long poll now
            sw.Start();
            source.Cancel();
            Check(waiter.Join(10000), "the wait returned");
            var ue = seen as UstbException;
            Check(ue != null && ue.Status == UstbStatus.Cancelled, "Cancelled, got " + seen);
            Console.WriteLine("      wait returned {0} ms after the cancel", sw.ElapsedMilliseconds);
            Check(sw.ElapsedMilliseconds < 1000, "prompt: " + sw.ElapsedMilliseconds + " ms after the cancel");
            sw.Restart();
            Eq(UstbStatus.Cancelled, Throws(() => login.WaitQr(TimeSpan.FromSeconds(60), source.Token), "cancelled token").Status, "at once");
            Check(sw.ElapsedMilliseconds < 1000, "at once: " + sw.ElapsedMilliseconds + " ms");
            // A cancel ends one call, not the login.
            Eq(QrState.Waiting, login.WaitQr(TimeSpan.FromMilliseconds(200)), "waiting again works");
        }
    }

    private static void LoginDisposeCancelsWait()
    {
        using (QrScript("scan@60000"))
        {
            var login = NewLogin();
            login.StartQr();
            Exception seen = null;
            var waiter = new Thread(() =>
            {
                try { login.WaitQr(TimeSpan.FromSeconds(60)); }
                catch (Exception e) { seen = e; }
            });
            waiter.Start();
            Thread.Sleep(500);
            var sw = Stopwatch.StartNew();
            login.Dispose();
            Check(waiter.Join(10000), "the wait returned");
            Console.WriteLine("      wait returned {0} ms after the Dispose", sw.ElapsedMilliseconds);
            Check(sw.ElapsedMilliseconds < 1000, "prompt: " + sw.ElapsedMilliseconds + " ms");
            var ue = seen as UstbException;
            Check(ue != null && ue.Status == UstbStatus.Cancelled, "Cancelled, got " + seen);
        }
    }

    /// <summary>A person's flow: fetch the puzzle, look at its images, answer it (here with the
    /// library's solver), send, submit the code (the emulator's is the phone's last 6 digits).</summary>
    private static void LoginSmsHappyPath()
    {
        const string Phone = "13800000011";
        using (var login = NewLogin())
        {
            login.FetchPuzzle();
            var images = login.GetPuzzleImages();
            Check(IsPng(images.Background) && IsPng(images.Piece), "two PNG images");
            int x = login.SolvePuzzle();
            Check(x > 0, "an answer: " + x);
            login.SendSms(Phone, x);
            login.SubmitSms(Phone.Substring(5));
            Check(login.GetCookie().Length > 0, "a cookie");
            using (var client = login.CreateClient()) ChatWorks(client);
        }
    }

    /// <summary>PuzzleAuto, then the cookie installed into an existing client that was logged
    /// out; a second code to the same phone within a minute is API error 201.</summary>
    private static void LoginSmsAutoAndInstall()
    {
        const string Phone = "13800000012";
        using (var login = NewLogin())
        using (var client = Anonymous())
        {
            Eq(UstbStatus.AuthError, Throws(() => client.CreateChatCompletion(ChatRequest.FromPrompt(Intro)), "logged out").Status, "auth error before");
            login.SendSms(Phone, UstbLogin.PuzzleAuto);
            login.SubmitSms(Phone.Substring(5));
            login.Install(client);
            ChatWorks(client);
            using (var again = NewLogin())
            {
                var e = Throws(() => again.SendSms(Phone), "same phone again");
                Eq(UstbStatus.ApiError, e.Status, "status");
                Eq(201L, e.ApiCode, "api code");
            }
        }
    }

    private static void LoginSmsWrongCode()
    {
        const string Phone = "13800000013";
        using (var login = NewLogin())
        {
            login.SendSms(Phone);
            var e = Throws(() => login.SubmitSms("000000"), "wrong code");
            Eq(UstbStatus.ApiError, e.Status, "status");
            Eq(UstbStatus.InvalidArgument, Throws(() => login.GetCookie(), "cookie").Status, "no cookie");
            login.SubmitSms(Phone.Substring(5)); // another try is allowed
            Check(login.GetCookie().Length > 0, "a cookie after the right code");
        }
    }

    private static void LoginSmsBadPhone()
    {
        var silent = SilentServer();
        try
        {
            var url = "http://127.0.0.1:" + ((IPEndPoint)silent.LocalEndpoint).Port;
            using (var login = new UstbLogin(LoginOptionsFor(url)))
            {
                foreach (var phone in new[] { "1380000001", "138000000140", "23800000014", "1380000001x", "", "+8613800000014", null })
                {
                    var sw = Stopwatch.StartNew();
                    Eq(UstbStatus.InvalidArgument, Throws(() => login.SendSms(phone), "phone " + phone).Status, "phone " + phone);
                    Check(sw.ElapsedMilliseconds < 1000, "at once: " + sw.ElapsedMilliseconds + " ms");
                }
                Check(!silent.Pending(), "nothing was sent");
            }
        }
        finally { silent.Stop(); }
    }

    /// <summary>The phone number and the cookie appear in no error text and no log line.</summary>
    private static void LoginSecrets()
    {
        const string Phone = "13912345678";
        var lines = new List<string>();
        EventHandler<LogEventArgs> handler = (s, e) => { lock (lines) lines.Add(e.Message); };
        var errors = new List<UstbException>();
        var level = UstbClient.LogLevel;
        UstbClient.LogLevel = UstbLogLevel.Debug;
        UstbClient.Log += handler;
        string cookie;
        try
        {
            using (var login = NewLogin())
            {
                login.SendSms(Phone);
                errors.Add(Throws(() => login.SubmitSms("000000"), "wrong code"));
                using (var again = NewLogin()) errors.Add(Throws(() => again.SendSms(Phone), "too soon"));
                login.SubmitSms(Phone.Substring(5));
                cookie = login.GetCookie();
                using (var client = login.CreateClient())
                {
                    errors.Add(Throws(() => client.CreateChatCompletion(ChatRequest.FromPrompt("x @emu:json-10042")), "auth error"));
                    errors.Add(Throws(() => client.CreateChatCompletion(ChatRequest.FromPrompt("x @emu:truncate")), "truncated"));
                }
            }
        }
        finally
        {
            UstbClient.Log -= handler;
            UstbClient.LogLevel = level;
        }
        Check(cookie.Length >= 8, "a cookie long enough to search for: " + cookie.Length);
        Check(lines.Count > 0, "log lines were captured");
        foreach (var e in errors)
        {
            var text = e.ToString() + "\n" + e.DetailJson + "\n" + e.ServerMessage;
            Check(!text.Contains(Phone) && !text.Contains(cookie), "no secret in the error: " + e.Status);
        }
        lock (lines)
            foreach (var l in lines)
                Check(!l.Contains(Phone) && !l.Contains(cookie), "no secret in a log line: " + l.Replace(Phone, "<phone>").Replace(cookie, "<cookie>"));
    }

    /// <summary>Login.exe logs in by QR code (the first code expires and is renewed), streams one
    /// answer and saves the cookie with mode 0600 without printing it.</summary>
    private static void LoginExampleProgram()
    {
        string exe = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "Login.exe");
        Check(File.Exists(exe), "Login.exe built next to Tests.exe");
        string dir = Path.Combine(Path.GetTempPath(), "ustb-csharp-login-" + Process.GetCurrentProcess().Id);
        Directory.CreateDirectory(dir);
        string cookieFile = Path.Combine(dir, "cookie");
        try
        {
            using (QrScript("expire@200;scan@100,confirm@300"))
            {
                var psi = new ProcessStartInfo("mono", "\"" + exe + "\" --sso-base-url " + _baseUrl + " --sis-base-url " + _baseUrl +
                                                        " --cookie-file \"" + cookieFile + "\" " + Intro)
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    StandardOutputEncoding = Encoding.UTF8,
                };
                psi.EnvironmentVariables["USTB_BASE_URL"] = _baseUrl; // the chat base from the environment
                using (var p = Process.Start(psi))
                {
                    var stderr = p.StandardError.ReadToEndAsync();
                    string output = p.StandardOutput.ReadToEnd();
                    Check(p.WaitForExit(30000), "example exited");
                    Eq(0, p.ExitCode, "exit code; stderr: " + stderr.Result + "; stdout: " + output);
                    var lines = output.Split('\n');
                    Eq(2, lines.Count(l => l.StartsWith("Scan the QR code", StringComparison.Ordinal)), "two codes shown");
                    Check(lines.Count(l => l.IndexOfAny(new[] { '█', '▀', '▄' }) >= 0) > 20, "QR codes printed as text");
                    var progress = string.Join(",", lines.Where(l => Regex.IsMatch(l, "^(waiting|scanned|confirmed|expired)$")));
                    Check(Regex.IsMatch(progress, "^(waiting,)?expired,(waiting,)?scanned,confirmed$"), "progress: " + progress);
                    Check(output.Contains("the QR code expired: here is a new one"), "renewal said");
                    Check(output.Contains("【回答】\n" + IntroContent), "the answer: " + output);
                    Check(output.Contains("cookie saved to " + cookieFile + " (mode 0600)"), "where the cookie went");
                    string cookie = File.ReadAllText(cookieFile).Trim();
                    Check(cookie.Length > 0 && !output.Contains(cookie) && !stderr.Result.Contains(cookie), "cookie saved, never printed");
                    Eq("600", Run("stat", "-c %a \"" + cookieFile + "\"").Trim(), "cookie file mode");
                }
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string Run(string file, string arguments)
    {
        var psi = new ProcessStartInfo(file, arguments) { UseShellExecute = false, RedirectStandardOutput = true };
        using (var p = Process.Start(psi))
        {
            string output = p.StandardOutput.ReadToEnd();
            Check(p.WaitForExit(10000) && p.ExitCode == 0, file + " " + arguments + " succeeded");
            return output;
        }
    }

    /// <summary>Example.exe and UstbOpenAI.dll alone in a directory, with no LD_LIBRARY_PATH: the
    /// exception names the library and the fix.</summary>
    private static void MissingNativeLibrary()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ustb-csharp-nolib-" + Process.GetCurrentProcess().Id);
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var f in new[] { "Example.exe", "UstbOpenAI.dll" })
                File.Copy(Path.Combine(AppDomain.CurrentDomain.BaseDirectory, f), Path.Combine(dir, f), true);
            var psi = new ProcessStartInfo("mono", "\"" + Path.Combine(dir, "Example.exe") + "\" --base-url " + _baseUrl + " x")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                StandardErrorEncoding = Encoding.UTF8,
            };
            psi.EnvironmentVariables.Remove("LD_LIBRARY_PATH");
            using (var p = Process.Start(psi))
            {
                p.StandardOutput.ReadToEnd();
                string stderr = p.StandardError.ReadToEnd();
                Check(p.WaitForExit(20000), "example exited");
                Check(p.ExitCode != 0, "non-zero exit without the library");
                Check(stderr.Contains("System.DllNotFoundException: " + Native_MissingLibraryStart), "names the library: " + stderr);
                Check(stderr.Contains("runtimes/linux-x64/native/") && stderr.Contains("next to UstbOpenAI.dll"), "says the fix: " + stderr);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    private const string Native_MissingLibraryStart = "libustb_openai.so (the native library of UstbOpenAI";

    /// <summary>A child ustb-emulator on port 0; the address comes from its first stdout line.</summary>
    private sealed class Emulator : IDisposable
    {
        private readonly Process _process;
        public string BaseUrl { get; private set; }

        private Emulator(Process p, string url) { _process = p; BaseUrl = url; }

        public static Emulator Start()
        {
            string path = Environment.GetEnvironmentVariable("USTB_EMULATOR");
            if (string.IsNullOrEmpty(path) || !File.Exists(path))
                throw new InvalidOperationException("set USTB_EMULATOR to the ustb-emulator binary (got '" + path + "')");
            // stderr is redirected too, so an orphaned emulator can never hold run-tests.sh's pipe open.
            // Short SSO long polls keep the login tests quick.
            var p = Process.Start(new ProcessStartInfo(path, "--port 0 --sso-long-poll-ms 300")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            p.ErrorDataReceived += (s, e) => { if (e.Data != null) Console.Error.WriteLine("[emulator] " + e.Data); };
            p.BeginErrorReadLine();
            // Lets run-tests.sh kill it even if this process dies without running Dispose.
            string pidFile = Environment.GetEnvironmentVariable("USTB_EMULATOR_PIDFILE");
            if (!string.IsNullOrEmpty(pidFile)) File.WriteAllText(pidFile, p.Id + "\n");
            AppDomain.CurrentDomain.UnhandledException += (s, e) => { try { p.Kill(); } catch (Exception) { } };
            const string Prefix = "ustb-emulator listening on ";
            string line = p.StandardOutput.ReadLine();
            if (line == null || !line.StartsWith(Prefix, StringComparison.Ordinal))
            {
                if (!p.HasExited) p.Kill();
                throw new InvalidOperationException("emulator did not start: " + line);
            }
            return new Emulator(p, line.Substring(Prefix.Length).Trim());
        }

        public void Dispose()
        {
            try { if (!_process.HasExited) { _process.Kill(); _process.WaitForExit(5000); } }
            catch (InvalidOperationException) { }
            _process.Dispose();
            // Gone now: make sure run-tests.sh never kills a recycled pid.
            string pidFile = Environment.GetEnvironmentVariable("USTB_EMULATOR_PIDFILE");
            if (!string.IsNullOrEmpty(pidFile)) File.Delete(pidFile);
        }
    }
}
