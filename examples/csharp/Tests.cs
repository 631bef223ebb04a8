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
            T("no_growth_over_300_streams", NoGrowth),
            T("example_program", ExampleProgram),
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
            var p = Process.Start(new ProcessStartInfo(path, "--port 0")
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
