// UstbOpenAI.cs: a C# 7 wrapper (Mono / .NET) over the ustb-openai C API (include/ustb_openai.h).
//
// Marshalling rules kept throughout:
// - strings go in as NUL-terminated UTF-8 byte arrays, never with the default ANSI marshalling;
// - every char* the library hands out is taken as IntPtr, copied to a managed string as UTF-8
//   and released with ustb_string_free (never declared `string`: the marshaller would free it
//   with its own allocator);
// - every ustb_error* is turned into a UstbException and freed before the exception is thrown.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace UstbOpenAI
{
    /// <summary>Mirrors the C enum ustb_status (Tests.cs checks every name and value against
    /// include/ustb_openai.h).</summary>
    public enum UstbStatus
    {
        Ok = 0,
        EndOfStream = 1,
        Stopped = 2,
        InvalidArgument = 3,
        InvalidRequest = 4,
        ConnectError = 5,
        Timeout = 6,
        ConnectionLost = 7,
        HttpStatus = 8,
        ApiError = 9,
        /// <summary>Not logged in (e=10042 请登录): the login cookie is missing or has expired. Log in
        /// again with UstbLogin, then UstbLogin.Install(client) (or UstbLogin.CreateClient()).
        /// From UstbLogin.WaitQr: the SSO says the QR session is invalid; start again.</summary>
        AuthError = 10,
        ProtocolError = 11,
        Truncated = 12,
        TooLarge = 13,
        Cancelled = 14,
        Panic = 15,
    }

    internal static class Native
    {
        // libustb_openai.so. .NET finds it in the NuGet package's runtimes/linux-x64/native/ by
        // itself; Mono looks next to this assembly (where the package's build/UstbOpenAI.targets
        // copies it), then asks the system loader (ldconfig's paths, LD_LIBRARY_PATH).
        private const string Lib = "ustb_openai";

        internal const string MissingLibrary =
            "libustb_openai.so (the native library of UstbOpenAI, DllImport \"ustb_openai\") was not found. " +
            "The UstbOpenAI NuGet package carries it in runtimes/linux-x64/native/: .NET loads it from there by itself; " +
            "on Mono it must sit next to UstbOpenAI.dll (the package's build/UstbOpenAI.targets copies it there when an " +
            "MSBuild or xbuild project imports it; otherwise copy it there yourself), or be installed where the system " +
            "loader finds it (`make install` of ustb-openai, then ldconfig), or lie in a directory named by LD_LIBRARY_PATH.";

        private static volatile bool _loaded;

        /// <summary>Called by each public entry point before its first native call: turns the runtime's
        /// bare DllNotFoundException into one that names the library and the fix.</summary>
        internal static void EnsureLoaded()
        {
            if (_loaded) return;
            try { ustb_version(); }
            catch (DllNotFoundException e) { throw new DllNotFoundException(MissingLibrary, e); }
            _loaded = true;
        }

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int ChunkCallback(IntPtr userdata, IntPtr chunkJson, UIntPtr len);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr ustb_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr ustb_status_name(int status);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void ustb_string_free(IntPtr s);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_new(byte[] optionsJson, out IntPtr client, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void ustb_client_free(IntPtr client);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_cookies(ClientHandle client, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_user_info(ClientHandle client, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_chat_create(ClientHandle client, byte[] requestJson, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_chat_stream_open(ClientHandle client, byte[] requestJson, out IntPtr stream, out IntPtr error);

        // The stream is passed as a raw pointer: ChatStream holds a DangerousAddRef on its
        // StreamHandle for the whole read, which defers a Dispose's free until the read returns.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_chat_stream_next(IntPtr stream, out IntPtr chunk, out UIntPtr len, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_chat_stream_for_each(IntPtr stream, ChunkCallback callback, IntPtr userdata, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_chat_stream_callback(ClientHandle client, byte[] requestJson, ChunkCallback callback, IntPtr userdata, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_chat_stream_canceller(StreamHandle stream, out CancellerHandle canceller, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void ustb_canceller_cancel(CancellerHandle canceller);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void ustb_canceller_free(IntPtr canceller);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void ustb_chat_stream_free(IntPtr stream);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_canceller_new(out CancellerHandle canceller, out IntPtr error);

        // The platform calls take their optional canceller as a raw pointer (IntPtr.Zero: none);
        // the caller keeps the CancellerHandle alive for the call (UstbClient.Platform).
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_web_info(ClientHandle client, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_apps(ClientHandle client, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_app_detail(ClientHandle client, long composeId, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_page_settings(ClientHandle client, long composeId, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_new_session_id(ClientHandle client, long composeId, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_sessions(ClientHandle client, uint page, uint pageSize, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_session_delete(ClientHandle client, byte[] sessionId, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_chat_history(ClientHandle client, byte[] sessionId, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_models(ClientHandle client, long composeId, IntPtr cancel, out IntPtr json, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_client_login_state(ClientHandle client, IntPtr cancel, out IntPtr json, out IntPtr error);

        // ustb_login (src/ffi/login.rs). The login goes in as a LoginHandle, so a Dispose on
        // another thread defers the free until the call returns; cancel is a raw canceller
        // pointer kept alive by UstbLogin.Network.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_new(byte[] optionsJson, out IntPtr login, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_qr_start(LoginHandle login, IntPtr cancel, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_qr_png(LoginHandle login, out IntPtr png, out UIntPtr len, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_qr_text(LoginHandle login, out IntPtr text, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_qr_page_url(LoginHandle login, out IntPtr url, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_qr_wait(LoginHandle login, uint timeoutMs, IntPtr cancel, out int state, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_sms_puzzle(LoginHandle login, IntPtr cancel, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_puzzle_images(LoginHandle login, out IntPtr background, out UIntPtr backgroundLen,
                                                            out IntPtr piece, out UIntPtr pieceLen, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_puzzle_solve(LoginHandle login, out uint x, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_sms_send(LoginHandle login, byte[] phone, int x, IntPtr cancel, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_sms_submit(LoginHandle login, byte[] code, IntPtr cancel, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_cookie(LoginHandle login, out IntPtr cookie, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_client(LoginHandle login, out IntPtr client, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_login_install(LoginHandle login, ClientHandle client, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void ustb_login_free(IntPtr login);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void LogCallback(IntPtr userdata, int level, IntPtr message);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_set_log_callback(LogCallback callback, IntPtr userdata, int minLevel, out IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ustb_error_status(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr ustb_error_message(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr ustb_error_detail(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern long ustb_error_api_code(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern ushort ustb_error_http_status(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void ustb_error_free(IntPtr error);

        /// <summary>NUL-terminated UTF-8 for a `const char*` parameter (null stays null).</summary>
        internal static byte[] Utf8Z(string s)
        {
            if (s == null) return null;
            var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Copies a borrowed UTF-8 string; len &lt; 0 means "up to the NUL".</summary>
        internal static string ReadUtf8(IntPtr p, long len = -1)
        {
            if (p == IntPtr.Zero) return null;
            if (len < 0)
            {
                len = 0;
                while (Marshal.ReadByte(p, (int)len) != 0) len++;
            }
            if (len > int.MaxValue) throw new OverflowException("string longer than 2 GiB");
            var bytes = new byte[len];
            Marshal.Copy(p, bytes, 0, (int)len);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Copies borrowed bytes (e.g. a PNG image) into a new array.</summary>
        internal static byte[] ReadBytes(IntPtr p, UIntPtr len)
        {
            ulong n = len.ToUInt64();
            if (n > int.MaxValue) throw new OverflowException("buffer longer than 2 GiB");
            var bytes = new byte[n];
            if (n > 0) Marshal.Copy(p, bytes, 0, (int)n);
            return bytes;
        }

        /// <summary>Copies a caller-owned string and frees it exactly once.</summary>
        internal static string TakeUtf8(IntPtr p, long len = -1)
        {
            try { return ReadUtf8(p, len); }
            finally { ustb_string_free(p); }
        }

        /// <summary>Throws for an error status; frees the error object in every case.</summary>
        internal static void Check(int status, IntPtr error)
        {
            if (status == (int)UstbStatus.Ok || status == (int)UstbStatus.EndOfStream || status == (int)UstbStatus.Stopped)
            {
                ustb_error_free(error); // normally NULL here; a no-op then
                return;
            }
            throw UstbException.Take(status, error);
        }
    }

    /// <summary>Owns a ustb_client*; the P/Invoke marshaller holds a reference during each call,
    /// so disposing the client while another thread is inside a call defers the free.</summary>
    internal sealed class ClientHandle : SafeHandle
    {
        internal ClientHandle(IntPtr p) : base(IntPtr.Zero, true) { SetHandle(p); }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle() { Native.ustb_client_free(handle); return true; }
    }

    /// <summary>Owns a ustb_chat_stream*; freed when the last DangerousAddRef is released.</summary>
    internal sealed class StreamHandle : SafeHandle
    {
        internal StreamHandle(IntPtr p) : base(IntPtr.Zero, true) { SetHandle(p); }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle() { Native.ustb_chat_stream_free(handle); return true; }
    }

    /// <summary>Owns a ustb_login*; freed when the last reference (a running call) is released.</summary>
    internal sealed class LoginHandle : SafeHandle
    {
        internal LoginHandle(IntPtr p) : base(IntPtr.Zero, true) { SetHandle(p); }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle() { Native.ustb_login_free(handle); return true; }
    }

    /// <summary>Owns a ustb_canceller*, which cancels its stream from any thread and stays valid
    /// after the stream is freed. The marshaller holds a reference during each cancel, so
    /// disposing it never frees it under a running call.</summary>
    internal sealed class CancellerHandle : SafeHandle
    {
        private CancellerHandle() : base(IntPtr.Zero, true) { } // made by the marshaller (out parameter)
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>A canceller for platform calls (ustb_canceller_new).</summary>
        internal static CancellerHandle New()
        {
            CancellerHandle canceller;
            IntPtr error;
            int status = Native.ustb_canceller_new(out canceller, out error);
            Native.Check(status, error);
            return canceller;
        }

        protected override bool ReleaseHandle() { Native.ustb_canceller_free(handle); return true; }
    }

    /// <summary>A failed library call: the contents of its ustb_error.</summary>
    public sealed class UstbException : Exception
    {
        public UstbStatus Status { get; private set; }
        /// <summary>The server's envelope code `e` (e.g. 10042, 4028), or 0.</summary>
        public long ApiCode { get; private set; }
        /// <summary>The reply's HTTP status, or 0 when no reply was received.</summary>
        public int HttpStatus { get; private set; }
        /// <summary>The detail's "type", e.g. "auth_error", "truncated".</summary>
        public string Type { get; private set; }
        /// <summary>The server's envelope message `m`, if any.</summary>
        public string ServerMessage { get; private set; }
        /// <summary>The raw detail JSON from ustb_error_detail.</summary>
        public string DetailJson { get; private set; }

        private UstbException(UstbStatus status, string message, long apiCode, int httpStatus, string detailJson)
            : base(message)
        {
            Status = status;
            ApiCode = apiCode;
            HttpStatus = httpStatus;
            DetailJson = detailJson;
            var detail = Json.Parse(detailJson) as Dictionary<string, object>;
            Type = Json.GetString(detail, "type");
            ServerMessage = Json.GetString(detail, "m");
        }

        /// <summary>Reads and frees a ustb_error*.</summary>
        internal static UstbException Take(int status, IntPtr error)
        {
            if (error == IntPtr.Zero)
                return new UstbException((UstbStatus)status, UstbClient.StatusName((UstbStatus)status), 0, 0, "{}");
            try
            {
                return new UstbException(
                    (UstbStatus)Native.ustb_error_status(error),
                    Native.ReadUtf8(Native.ustb_error_message(error)),
                    Native.ustb_error_api_code(error),
                    Native.ustb_error_http_status(error),
                    Native.ReadUtf8(Native.ustb_error_detail(error)));
            }
            finally { Native.ustb_error_free(error); }
        }

        public override string ToString()
        {
            return UstbClient.StatusName(Status) + ": " + Message;
        }
    }

    /// <summary>Options for ustb_client_new; unset (null) members keep the library's defaults.</summary>
    public class ClientOptions
    {
        public string BaseUrl { get; set; }
        public string EasySession { get; set; }
        public string VjuidLogin { get; set; }
        /// <summary>A raw "easy_session=…; cookie_vjuid_login=…" header value.</summary>
        public string Cookie { get; set; }
        public long? ConnectTimeoutMs { get; set; }
        public long? IdleTimeoutMs { get; set; }
        public long? TimeoutMs { get; set; }
        public int? MaxRetries { get; set; }
        public string UserAgent { get; set; }
        public int? ComposeId { get; set; }
        public string Model { get; set; }

        public string ToJson()
        {
            var w = new Json.ObjectWriter();
            Write(w);
            return w.ToString();
        }

        internal virtual void Write(Json.ObjectWriter w)
        {
            w.Add("base_url", BaseUrl).Add("easy_session", EasySession).Add("vjuid_login", VjuidLogin)
             .Add("cookie", Cookie).Add("connect_timeout_ms", ConnectTimeoutMs).Add("idle_timeout_ms", IdleTimeoutMs)
             .Add("timeout_ms", TimeoutMs).Add("max_retries", MaxRetries).Add("user_agent", UserAgent)
             .Add("compose_id", ComposeId).Add("model", Model);
        }
    }

    /// <summary>Options for ustb_login_new: every client option (they configure the client
    /// UstbLogin.CreateClient makes; BaseUrl is also where the SSO sends the browser back to)
    /// plus the SSO's addresses and a CA file. Unset (null) members keep the library's defaults.</summary>
    public sealed class LoginOptions : ClientOptions
    {
        /// <summary>Default "https://sso.ustb.edu.cn".</summary>
        public string SsoBaseUrl { get; set; }
        /// <summary>Default "https://sis.ustb.edu.cn" (the QR page's host).</summary>
        public string SisBaseUrl { get; set; }
        /// <summary>A PEM file whose certificates are trusted instead of the bundled root set
        /// (a network that intercepts TLS, or a test server).</summary>
        public string CaFile { get; set; }

        internal override void Write(Json.ObjectWriter w)
        {
            base.Write(w);
            w.Add("sso_base_url", SsoBaseUrl).Add("sis_base_url", SisBaseUrl).Add("ca_file", CaFile);
        }
    }

    public sealed class ChatMessage
    {
        public string Role { get; set; }
        /// <summary>The text; null in an assistant message that only calls tools (sent as JSON null).</summary>
        public string Content { get; set; }
        /// <summary>The model's thinking (only in replies); null when it did not think. Not sent back.</summary>
        public string ReasoningContent { get; set; }
        /// <summary>An assistant message's tool calls (null: none). A reply's message, added to the
        /// next request's Messages as it is, sends them back.</summary>
        public IList<ToolCall> ToolCalls { get; set; }
        /// <summary>In a "tool" message: the id of the call this is the result of.</summary>
        public string ToolCallId { get; set; }
        /// <summary>In a "tool" message: the function's name (optional).</summary>
        public string Name { get; set; }

        public ChatMessage() { }
        public ChatMessage(string role, string content) { Role = role; Content = content; }

        /// <summary>A "tool" message carrying the result of the call with id toolCallId.</summary>
        public static ChatMessage ToolResult(string toolCallId, string content, string name = null)
        {
            return new ChatMessage("tool", content) { ToolCallId = toolCallId, Name = name };
        }

        internal string ToJson()
        {
            var w = new Json.ObjectWriter().Add("role", Role).AddRaw("content", Content == null ? "null" : Json.Quote(Content));
            if (ToolCalls != null && ToolCalls.Count > 0)
            {
                var calls = new List<string>();
                foreach (var t in ToolCalls) calls.Add(t.ToJson());
                w.AddRaw("tool_calls", Json.ArrayOf(calls));
            }
            return w.Add("tool_call_id", ToolCallId).Add("name", Name).ToString();
        }
    }

    /// <summary>A function call: its name and its arguments, always a JSON object as a string
    /// (markup whose arguments are not an object is left as text, not made a call).</summary>
    public sealed class FunctionCall
    {
        /// <summary>In a stream, only the first delta of a call has the name (later ones: null).</summary>
        public string Name { get; set; }
        /// <summary>In a stream, each delta carries a fragment.</summary>
        public string Arguments { get; set; }

        internal static FunctionCall From(Dictionary<string, object> o)
        {
            return new FunctionCall { Name = Json.GetString(o, "name"), Arguments = Json.GetString(o, "arguments") };
        }
    }

    /// <summary>One tool call of an assistant message (message.tool_calls[i]).</summary>
    public sealed class ToolCall
    {
        public string Id { get; set; }
        public string Type { get; set; }
        public FunctionCall Function { get; set; }

        public ToolCall() { Type = "function"; }

        internal string ToJson()
        {
            var f = Function ?? new FunctionCall();
            var fn = new Json.ObjectWriter().Add("name", f.Name).Add("arguments", f.Arguments ?? "");
            return new Json.ObjectWriter().Add("id", Id).Add("type", Type).AddRaw("function", fn.ToString()).ToString();
        }

        internal static ToolCall From(Dictionary<string, object> o)
        {
            return new ToolCall { Id = Json.GetString(o, "id"), Type = Json.GetString(o, "type"), Function = FunctionCall.From(Json.GetObject(o, "function")) };
        }

        /// <summary>The tool calls of a stream's first choice, put together from its deltas as an
        /// OpenAI client does: a delta with an Id starts call Index, later ones add argument fragments.</summary>
        public static IList<ToolCall> Assemble(IEnumerable<ChatCompletionChunk> chunks)
        {
            var calls = new List<ToolCall>();
            var arguments = new List<StringBuilder>();
            foreach (var chunk in chunks)
            {
                if (chunk.Choices.Count == 0 || chunk.Choices[0].Delta.ToolCalls == null) continue;
                foreach (var d in chunk.Choices[0].Delta.ToolCalls)
                {
                    while (calls.Count <= d.Index)
                    {
                        calls.Add(new ToolCall { Function = new FunctionCall() });
                        arguments.Add(new StringBuilder());
                    }
                    var call = calls[d.Index];
                    if (d.Id != null) call.Id = d.Id;
                    if (d.Type != null) call.Type = d.Type;
                    if (d.Function.Name != null) call.Function.Name = d.Function.Name;
                    arguments[d.Index].Append(d.Function.Arguments);
                }
            }
            for (int i = 0; i < calls.Count; i++) calls[i].Function.Arguments = arguments[i].ToString();
            return calls.AsReadOnly();
        }
    }

    /// <summary>One tool_calls entry of a stream delta: Index says which call of the reply it
    /// belongs to; Id, Type and Function.Name come only in a call's first delta.</summary>
    public sealed class ToolCallDelta
    {
        public int Index { get; internal set; }
        public string Id { get; internal set; }
        public string Type { get; internal set; }
        public FunctionCall Function { get; internal set; }

        internal static ToolCallDelta From(Dictionary<string, object> o)
        {
            return new ToolCallDelta
            {
                Index = (int)Json.GetLong(o, "index"),
                Id = Json.GetString(o, "id"),
                Type = Json.GetString(o, "type"),
                Function = FunctionCall.From(Json.GetObject(o, "function")),
            };
        }
    }

    /// <summary>A function the model may call: name, description and a JSON schema of its parameters.</summary>
    public sealed class Tool
    {
        public string Name { get; set; }
        public string Description { get; set; }
        /// <summary>The parameters' JSON schema as raw JSON, e.g. {"type":"object","properties":{…}}; null for none.</summary>
        public string ParametersJson { get; set; }

        public Tool() { }
        public Tool(string name, string description, string parametersJson)
        {
            Name = name; Description = description; ParametersJson = parametersJson;
        }

        internal string ToJson()
        {
            var fn = new Json.ObjectWriter().Add("name", Name).Add("description", Description).AddRaw("parameters", ParametersJson);
            return new Json.ObjectWriter().Add("type", "function").AddRaw("function", fn.ToString()).ToString();
        }
    }

    /// <summary>OpenAI's tool_choice: Auto, None, Required, or one named function.</summary>
    public sealed class ToolChoice
    {
        public static readonly ToolChoice Auto = new ToolChoice("\"auto\"");
        public static readonly ToolChoice None = new ToolChoice("\"none\"");
        public static readonly ToolChoice Required = new ToolChoice("\"required\"");

        private readonly string _json;
        private ToolChoice(string json) { _json = json; }

        /// <summary>The model must call this function.</summary>
        public static ToolChoice Function(string name)
        {
            var fn = new Json.ObjectWriter().Add("name", name).ToString();
            return new ToolChoice(new Json.ObjectWriter().Add("type", "function").AddRaw("function", fn).ToString());
        }

        /// <summary>The JSON value sent as tool_choice.</summary>
        public string ToJson() { return _json; }
    }

    /// <summary>An OpenAI chat-completions request with the USTB extras.</summary>
    public sealed class ChatRequest
    {
        public string Model { get; set; }
        public List<ChatMessage> Messages { get; private set; }
        public bool IncludeUsage { get; set; }
        public bool? DeepThinking { get; set; }
        public bool? WebSearch { get; set; }
        public int? ThinkingBudget { get; set; }
        public int? ComposeId { get; set; }
        /// <summary>The functions the model may call (sent only when not empty).</summary>
        public List<Tool> Tools { get; private set; }
        /// <summary>Null: the library's default (auto).</summary>
        public ToolChoice ToolChoice { get; set; }
        public bool? ParallelToolCalls { get; set; }

        public ChatRequest() { Messages = new List<ChatMessage>(); Tools = new List<Tool>(); }

        /// <summary>A one-message request: { role: user, content: prompt }.</summary>
        public static ChatRequest FromPrompt(string prompt, string model = "deepseek-r1")
        {
            var r = new ChatRequest { Model = model };
            r.Messages.Add(new ChatMessage("user", prompt));
            return r;
        }

        public string ToJson()
        {
            var messages = new List<string>();
            foreach (var m in Messages) messages.Add(m.ToJson());
            var w = new Json.ObjectWriter().Add("model", Model).AddRaw("messages", Json.ArrayOf(messages));
            if (IncludeUsage) w.AddRaw("stream_options", "{\"include_usage\":true}");
            w.Add("deep_thinking", DeepThinking).Add("web_search", WebSearch)
             .Add("thinking_budget", ThinkingBudget).Add("compose_id", ComposeId);
            if (Tools.Count > 0)
            {
                var tools = new List<string>();
                foreach (var t in Tools) tools.Add(t.ToJson());
                w.AddRaw("tools", Json.ArrayOf(tools));
            }
            w.AddRaw("tool_choice", ToolChoice == null ? null : ToolChoice.ToJson()).Add("parallel_tool_calls", ParallelToolCalls);
            return w.ToString();
        }
    }

    public sealed class Usage
    {
        public long PromptTokens { get; private set; }
        public long CompletionTokens { get; private set; }
        public long TotalTokens { get; private set; }

        internal static Usage From(object o)
        {
            var d = o as Dictionary<string, object>;
            if (d == null) return null;
            return new Usage
            {
                PromptTokens = Json.GetLong(d, "prompt_tokens"),
                CompletionTokens = Json.GetLong(d, "completion_tokens"),
                TotalTokens = Json.GetLong(d, "total_tokens"),
            };
        }
    }

    public sealed class ChatChoice
    {
        public int Index { get; internal set; }
        public ChatMessage Message { get; internal set; }
        public string FinishReason { get; internal set; }
    }

    /// <summary>What a `chat.completion` and a `chat.completion.chunk` share, and the one parser
    /// of both: they differ only in where each choice keeps its texts (`message` or `delta`).</summary>
    public abstract class ChatReply<TChoice>
    {
        public string Id { get; private set; }
        public long Created { get; private set; }
        public string Model { get; private set; }
        /// <summary>Empty in a chunk that carries only the usage.</summary>
        public IList<TChoice> Choices { get; private set; }
        /// <summary>Null when the server reported none (in a stream, only the usage chunk has it).</summary>
        public Usage Usage { get; private set; }
        public string Json { get; private set; }

        internal static TReply Parse<TReply>(string json, string textsKey, Func<ChoiceFields, TChoice> choice)
            where TReply : ChatReply<TChoice>, new()
        {
            var root = (Dictionary<string, object>)UstbOpenAI.Json.Parse(json);
            var choices = new List<TChoice>();
            foreach (var o in UstbOpenAI.Json.GetList(root, "choices"))
                choices.Add(choice(new ChoiceFields((Dictionary<string, object>)o, textsKey)));
            return new TReply
            {
                Id = UstbOpenAI.Json.GetString(root, "id"),
                Created = UstbOpenAI.Json.GetLong(root, "created"),
                Model = UstbOpenAI.Json.GetString(root, "model"),
                Choices = choices.AsReadOnly(),
                Usage = Usage.From(UstbOpenAI.Json.Get(root, "usage")),
                Json = json,
            };
        }
    }

    /// <summary>One parsed choice: its index, finish_reason and the texts under `textsKey`.</summary>
    internal sealed class ChoiceFields
    {
        internal readonly int Index;
        internal readonly string FinishReason, Role, Content, ReasoningContent;
        /// <summary>The raw tool_calls list, or null when the choice has none.</summary>
        internal readonly List<object> ToolCalls;

        internal ChoiceFields(Dictionary<string, object> choice, string textsKey)
        {
            var texts = Json.GetObject(choice, textsKey);
            Index = (int)Json.GetLong(choice, "index");
            FinishReason = Json.GetString(choice, "finish_reason");
            Role = Json.GetString(texts, "role");
            Content = Json.GetString(texts, "content");
            ReasoningContent = Json.GetString(texts, "reasoning_content");
            ToolCalls = Json.Get(texts, "tool_calls") as List<object>;
        }

        /// <summary>Each raw tool_calls entry made into T; null when there are none.</summary>
        internal List<T> ToolCallsAs<T>(Func<Dictionary<string, object>, T> make)
        {
            if (ToolCalls == null) return null;
            var list = new List<T>();
            foreach (var o in ToolCalls) list.Add(make((Dictionary<string, object>)o));
            return list;
        }
    }

    /// <summary>An OpenAI `chat.completion`, with its raw JSON.</summary>
    public sealed class ChatCompletion : ChatReply<ChatChoice>
    {
        public static ChatCompletion Parse(string json)
        {
            return Parse<ChatCompletion>(json, "message", c => new ChatChoice
            {
                Index = c.Index,
                FinishReason = c.FinishReason,
                Message = new ChatMessage
                {
                    Role = c.Role, Content = c.Content, ReasoningContent = c.ReasoningContent,
                    ToolCalls = c.ToolCallsAs(ToolCall.From),
                },
            });
        }
    }

    public sealed class ChatDelta
    {
        public string Role { get; internal set; }
        public string Content { get; internal set; }
        public string ReasoningContent { get; internal set; }
        /// <summary>Null when the delta has none; see ToolCall.Assemble.</summary>
        public IList<ToolCallDelta> ToolCalls { get; internal set; }
    }

    public sealed class ChunkChoice
    {
        public int Index { get; internal set; }
        public ChatDelta Delta { get; internal set; }
        public string FinishReason { get; internal set; }
    }

    /// <summary>An OpenAI `chat.completion.chunk`, with its raw JSON.</summary>
    public sealed class ChatCompletionChunk : ChatReply<ChunkChoice>
    {
        public static ChatCompletionChunk Parse(string json)
        {
            return Parse<ChatCompletionChunk>(json, "delta", c => new ChunkChoice
            {
                Index = c.Index,
                FinishReason = c.FinishReason,
                Delta = new ChatDelta
                {
                    Role = c.Role, Content = c.Content, ReasoningContent = c.ReasoningContent,
                    ToolCalls = c.ToolCallsAs(ToolCallDelta.From),
                },
            });
        }
    }

    /// <summary>The identity cookies from ustb_client_cookies. Secrets: do not log them.</summary>
    public sealed class ClientCookies
    {
        public string EasySession { get; internal set; }
        public string VjuidLogin { get; internal set; }
        public string Cookie { get; internal set; }
    }

    /// <summary>A client of one server. Thread-safe: share it between threads.</summary>
    public sealed class UstbClient : IDisposable
    {
        private readonly ClientHandle _handle;

        /// <summary>Takes ownership of a ustb_client* from the library (UstbLogin.CreateClient).</summary>
        internal UstbClient(IntPtr client) { _handle = new ClientHandle(client); }

        internal ClientHandle Handle { get { return _handle; } }

        public UstbClient() : this((string)null) { }
        public UstbClient(ClientOptions options) : this(options == null ? null : options.ToJson()) { }

        /// <summary>Takes the options as JSON (null, "" or "{}" for all defaults).</summary>
        public UstbClient(string optionsJson)
        {
            Native.EnsureLoaded();
            IntPtr client, error;
            int status = Native.ustb_client_new(Native.Utf8Z(optionsJson), out client, out error);
            Native.Check(status, error);
            _handle = new ClientHandle(client);
        }

        /// <summary>The library version, e.g. "0.1.0".</summary>
        public static string Version { get { Native.EnsureLoaded(); return Native.ReadUtf8(Native.ustb_version()); } }

        /// <summary>The C name of a status, e.g. "USTB_TIMEOUT".</summary>
        public static string StatusName(UstbStatus status)
        {
            Native.EnsureLoaded();
            return Native.ReadUtf8(Native.ustb_status_name((int)status));
        }

        public ChatCompletion CreateChatCompletion(ChatRequest request)
        {
            return ChatCompletion.Parse(CreateChatCompletionJson(request.ToJson()));
        }

        /// <summary>The raw `chat.completion` JSON for a raw request JSON.</summary>
        public string CreateChatCompletionJson(string requestJson)
        {
            IntPtr json, error;
            int status = Native.ustb_chat_create(_handle, Native.Utf8Z(requestJson), out json, out error);
            Native.Check(status, error);
            return Native.TakeUtf8(json);
        }

        /// <summary>Opens a pull stream. Request errors throw here; the request is sent by the first read.</summary>
        public ChatStream StreamChatCompletion(ChatRequest request)
        {
            return StreamChatCompletion(request.ToJson(), CancellationToken.None);
        }

        public ChatStream StreamChatCompletion(string requestJson)
        {
            return StreamChatCompletion(requestJson, CancellationToken.None);
        }

        /// <summary>As StreamChatCompletion(request), and cancelling the token cancels the stream
        /// (a blocked read throws UstbException with Status Cancelled), as ChatStream.Cancel does.</summary>
        public ChatStream StreamChatCompletion(ChatRequest request, CancellationToken cancellationToken)
        {
            return StreamChatCompletion(request.ToJson(), cancellationToken);
        }

        public ChatStream StreamChatCompletion(string requestJson, CancellationToken cancellationToken)
        {
            IntPtr stream, error;
            int status = Native.ustb_chat_stream_open(_handle, Native.Utf8Z(requestJson), out stream, out error);
            Native.Check(status, error);
            return new ChatStream(new StreamHandle(stream), cancellationToken);
        }

        /// <summary>Push style on the calling thread: onChunk returns true to go on, false to stop.
        /// Returns Ok when the reply completed, Stopped when onChunk asked to stop.</summary>
        public UstbStatus StreamChatCompletion(ChatRequest request, Func<ChatCompletionChunk, bool> onChunk)
        {
            return StreamChatCompletion(request.ToJson(), onChunk);
        }

        public UstbStatus StreamChatCompletion(string requestJson, Func<ChatCompletionChunk, bool> onChunk)
        {
            var body = Native.Utf8Z(requestJson);
            return Push.Run(onChunk, (cb, userdata) =>
            {
                IntPtr error;
                int status = Native.ustb_chat_stream_callback(_handle, body, cb, userdata, out error);
                return new KeyValuePair<int, IntPtr>(status, error);
            });
        }

        public ClientCookies GetCookies()
        {
            IntPtr json, error;
            int status = Native.ustb_client_cookies(_handle, out json, out error);
            Native.Check(status, error);
            var d = Json.Parse(Native.TakeUtf8(json)) as Dictionary<string, object>;
            return new ClientCookies
            {
                EasySession = Json.GetString(d, "easy_session"),
                VjuidLogin = Json.GetString(d, "vjuid_login"),
                Cookie = Json.GetString(d, "cookie"),
            };
        }

        /// <summary>GET /site/user_info: the profile JSON (the envelope's `d`).</summary>
        public string GetUserInfoJson()
        {
            IntPtr json, error;
            int status = Native.ustb_client_user_info(_handle, out json, out error);
            Native.Check(status, error);
            return Native.TakeUtf8(json);
        }

        // ---- platform calls (docs/PROTOCOL.md section 5). Each blocks until the reply is read,
        // bounded by the client's timeouts; cancelling the token makes it throw UstbException with
        // Status Cancelled (at once, sending nothing, when the token is already cancelled).
        // A compose id of 0 means the client's default application (the ComposeId option, 3 unless set).

        /// <summary>GET /common/web_info: the site's configuration (name, logos, isCas, …) as JSON.</summary>
        public string GetWebInfoJson(CancellationToken cancellationToken = default(CancellationToken))
        {
            return Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_web_info(_handle, c, out j, out e));
        }

        /// <summary>The applications: a JSON list of objects with id, name, desc, model_ids, ….</summary>
        public string GetAppsJson(CancellationToken cancellationToken = default(CancellationToken))
        {
            return Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_apps(_handle, c, out j, out e));
        }

        /// <summary>One application as JSON; an unknown id throws ApiError.</summary>
        public string GetAppDetailJson(long composeId = 0, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_app_detail(_handle, composeId, c, out j, out e));
        }

        /// <summary>An application's page settings as JSON (model_select, deepThinking_select, networking_select, …).</summary>
        public string GetPageSettingsJson(long composeId = 0, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_page_settings(_handle, composeId, c, out j, out e));
        }

        /// <summary>A new session id (needs a login).</summary>
        public string NewSessionId(long composeId = 0, CancellationToken cancellationToken = default(CancellationToken))
        {
            var json = Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_new_session_id(_handle, composeId, c, out j, out e));
            return (string)Json.Parse(json);
        }

        /// <summary>The caller's sessions, newest first, as a JSON list (empty past the last page).
        /// page counts from 1, pageSize is 1 to 100; others throw InvalidArgument. Needs a login.</summary>
        public string GetSessionsJson(int page = 1, int pageSize = 20, CancellationToken cancellationToken = default(CancellationToken))
        {
            // A negative number goes in as 0, which the library refuses with its own message.
            uint p = page < 0 ? 0u : (uint)page, size = pageSize < 0 ? 0u : (uint)pageSize;
            return Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_sessions(_handle, p, size, c, out j, out e));
        }

        /// <summary>Deletes a session (its sess_id); an id the server does not know is no error. Needs a login.</summary>
        public void DeleteSession(string sessionId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var id = Native.Utf8Z(sessionId);
            Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_session_delete(_handle, id, c, out j, out e));
        }

        /// <summary>A session's messages as a JSON list of {role, content, ct, …} ([] for an unknown session). Needs a login.</summary>
        public string GetChatHistoryJson(string sessionId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var id = Native.Utf8Z(sessionId);
            return Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_chat_history(_handle, id, c, out j, out e));
        }

        /// <summary>The models an application offers, as an OpenAI model list; a Model's Id is what
        /// a ChatRequest's Model takes.</summary>
        public ModelList ListModels(long composeId = 0, CancellationToken cancellationToken = default(CancellationToken))
        {
            return ModelList.Parse(ListModelsJson(composeId, cancellationToken));
        }

        /// <summary>The raw model list JSON: {"object":"list","data":[{id, object, created, owned_by, label, compose_id}]}.</summary>
        public string ListModelsJson(long composeId = 0, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_models(_handle, composeId, c, out j, out e));
        }

        /// <summary>Whether the login cookie works, with one cheap request: LoggedIn, LoggedOut
        /// (no cookie or an expired one) or Unreachable (no connection, a timeout). Any other
        /// answer (e.g. HTTP 500) throws.</summary>
        public LoginState GetLoginState(CancellationToken cancellationToken = default(CancellationToken))
        {
            return LoginState.Parse(Platform(cancellationToken, (IntPtr c, out IntPtr j, out IntPtr e) => Native.ustb_client_login_state(_handle, c, out j, out e)));
        }

        private delegate int PlatformCall(IntPtr cancel, out IntPtr json, out IntPtr error);

        /// <summary>Runs one platform call. A token that can be cancelled gets a canceller of its
        /// own for the call (a canceller serves one call at a time and stays cancelled).</summary>
        private static string Platform(CancellationToken token, PlatformCall call)
        {
            IntPtr json, error;
            if (!token.CanBeCanceled)
            {
                Native.Check(call(IntPtr.Zero, out json, out error), error);
                return Native.TakeUtf8(json);
            }
            using (var canceller = CancellerHandle.New())
            {
                // Disposing the registration waits for a cancel running on another thread, so the
                // canceller is freed only after it.
                using (token.Register(() => Native.ustb_canceller_cancel(canceller)))
                    Native.Check(call(canceller.DangerousGetHandle(), out json, out error), error);
                return Native.TakeUtf8(json);
            }
        }

        /// <summary>Receives the library's log lines (process-wide, from every client) at LogLevel
        /// or more important. Handlers run on the thread that logs, possibly several at once, so
        /// they must be thread-safe; an exception a handler throws is dropped. Lines never hold
        /// cookie values or message texts. Subscribing or unsubscribing from inside a handler
        /// throws InvalidOperationException. With no handler, USTB_LOG=debug|info|warn|error logs to stderr.</summary>
        public static event EventHandler<LogEventArgs> Log
        {
            add { Logging.Change(value, true); }
            remove { Logging.Change(value, false); }
        }

        /// <summary>The least important level Log receives (default Info); Off silences USTB_LOG too
        /// while a handler is subscribed.</summary>
        public static UstbLogLevel LogLevel
        {
            get { return Logging.Level; }
            set { Logging.SetLevel(value); }
        }

        /// <summary>Frees the client (deferred until calls still running on other threads return).
        /// Streams opened from it stay usable.</summary>
        public void Dispose() { _handle.Dispose(); }
    }

    /// <summary>Mirrors the C enum ustb_login_state: where a QR code login is (UstbLogin.WaitQr).</summary>
    public enum QrState
    {
        /// <summary>Nobody has scanned the code yet.</summary>
        Waiting = 0,
        /// <summary>Scanned on a phone, not yet confirmed there.</summary>
        Scanned = 1,
        /// <summary>Confirmed: the login is complete and the cookie is ready.</summary>
        Confirmed = 2,
        /// <summary>The code expired (after about 3 minutes): StartQr again for a new one.</summary>
        Expired = 3,
        /// <summary>The call failed; never returned: WaitQr throws UstbException instead.</summary>
        Failed = 4,
    }

    /// <summary>The two PNG images of a slider puzzle (copies): the background with a piece-shaped
    /// hole, and the piece (as tall as the background, transparent around the piece).</summary>
    public sealed class PuzzleImages
    {
        public byte[] Background { get; private set; }
        public byte[] Piece { get; private set; }

        internal PuzzleImages(byte[] background, byte[] piece) { Background = background; Piece = piece; }
    }

    /// <summary>A login through the university SSO (WeChat QR code or SMS code) and, once it
    /// succeeded, its cookie. Use it from one thread at a time (a second call while one runs throws
    /// InvalidArgument "busy"); the CancellationToken of a network call and Dispose work from any
    /// thread. After Dispose every call throws ObjectDisposedException.</summary>
    /// <remarks>
    /// QR code: StartQr, show GetQrPng() (or GetQrText() in a terminal), WaitQr until Confirmed
    /// (on Expired, StartQr again for a new code), then CreateClient() or GetCookie().
    /// SMS code: SendSms(phone) (the library solves the slider puzzle; or FetchPuzzle,
    /// GetPuzzleImages and SendSms(phone, x) to let a person solve it), SubmitSms(code), then
    /// CreateClient() or GetCookie(). Errors are UstbException as for UstbClient; the phone
    /// number and the cookie never appear in them.
    /// </remarks>
    public sealed class UstbLogin : IDisposable
    {
        /// <summary>The x for SendSms that lets the library fetch and solve the puzzle itself (USTB_PUZZLE_AUTO).</summary>
        public const int PuzzleAuto = -1;

        private readonly LoginHandle _handle;
        // The canceller of the network call running now (null: none), so Dispose can end it.
        private CancellerHandle _running;

        public UstbLogin() : this((string)null) { }
        public UstbLogin(LoginOptions options) : this(options == null ? null : options.ToJson()) { }

        /// <summary>Takes the options as JSON (null, "" or "{}" for all defaults). Never touches the network.</summary>
        public UstbLogin(string optionsJson)
        {
            Native.EnsureLoaded();
            IntPtr login, error;
            Native.Check(Native.ustb_login_new(Native.Utf8Z(optionsJson), out login, out error), error);
            _handle = new LoginHandle(login);
        }

        /// <summary>Starts the QR code login, or renews the code (after Expired, or any time): asks
        /// the SSO for a new QR code and downloads its image. Throws a network status, ApiError
        /// (the SSO refuses), HttpStatus, ProtocolError or Cancelled.</summary>
        public void StartQr(CancellationToken cancellationToken = default(CancellationToken))
        {
            Network(cancellationToken, (IntPtr c, out IntPtr e) => Native.ustb_login_qr_start(_handle, c, out e));
        }

        /// <summary>The current QR code as PNG bytes (a copy). InvalidArgument before StartQr.</summary>
        public byte[] GetQrPng()
        {
            return Borrowing(() =>
            {
                IntPtr png, error;
                UIntPtr len;
                Native.Check(Native.ustb_login_qr_png(_handle, out png, out len, out error), error);
                return Native.ReadBytes(png, len);
            });
        }

        /// <summary>The current QR code drawn for a terminal (Unicode half blocks, dark modules
        /// filled; print it on a light background). InvalidArgument before StartQr.</summary>
        public string GetQrText()
        {
            IntPtr text, error;
            Native.Check(Native.ustb_login_qr_text(_handle, out text, out error), error);
            return Native.TakeUtf8(text);
        }

        /// <summary>The SSO's web page showing the current QR code (for a browser). It carries a
        /// one-time token: do not log it.</summary>
        public string GetQrPageUrl()
        {
            IntPtr url, error;
            Native.Check(Native.ustb_login_qr_page_url(_handle, out url, out error), error);
            return Native.TakeUtf8(url);
        }

        /// <summary>Waits up to timeout for the QR code's state to change: Waiting or Scanned (no
        /// change within the time, or newly scanned), Confirmed (the cookie is ready) or Expired
        /// (StartQr again). Later calls after Confirmed or Expired return the same at once.
        /// Throws AuthError when the SSO says the QR session is invalid (start again), Cancelled,
        /// or a network status when the network stayed down (waiting again is allowed).</summary>
        public QrState WaitQr(TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (timeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException("timeout", "timeout is negative");
            uint ms = timeout.TotalMilliseconds >= uint.MaxValue ? uint.MaxValue : (uint)timeout.TotalMilliseconds;
            int state = (int)QrState.Failed;
            Network(cancellationToken, (IntPtr c, out IntPtr e) => Native.ustb_login_qr_wait(_handle, ms, c, out state, out e));
            return (QrState)state;
        }

        /// <summary>Fetches a new slider puzzle for a person to solve (GetPuzzleImages, then
        /// SendSms(phone, x)). Not needed with PuzzleAuto. ProtocolError (HttpStatus set) when the
        /// SSO says SMS login is not available.</summary>
        public void FetchPuzzle(CancellationToken cancellationToken = default(CancellationToken))
        {
            Network(cancellationToken, (IntPtr c, out IntPtr e) => Native.ustb_login_sms_puzzle(_handle, c, out e));
        }

        /// <summary>The current puzzle's images (copies). The answer x is how many pixels from the
        /// background's left edge the piece's left edge belongs. InvalidArgument with no puzzle.</summary>
        public PuzzleImages GetPuzzleImages()
        {
            return Borrowing(() =>
            {
                IntPtr background, piece, error;
                UIntPtr backgroundLen, pieceLen;
                Native.Check(Native.ustb_login_puzzle_images(_handle, out background, out backgroundLen, out piece, out pieceLen, out error), error);
                return new PuzzleImages(Native.ReadBytes(background, backgroundLen), Native.ReadBytes(piece, pieceLen));
            });
        }

        /// <summary>The library's answer to the current puzzle (image matching, no network).</summary>
        public int SolvePuzzle()
        {
            IntPtr error;
            uint x;
            Native.Check(Native.ustb_login_puzzle_solve(_handle, out x, out error), error);
            return (int)x;
        }

        /// <summary>Sends an SMS code to phone (11 digits starting with 1, checked before any
        /// traffic: InvalidArgument). x answers the current puzzle (FetchPuzzle; one answer per
        /// puzzle); PuzzleAuto lets the library solve puzzles itself. ApiError when the SSO
        /// refuses (ApiCode 5054: wrong answer, fetch a new puzzle; 201: a code was sent moments
        /// ago, wait a minute).</summary>
        public void SendSms(string phone, int x = PuzzleAuto, CancellationToken cancellationToken = default(CancellationToken))
        {
            var p = Native.Utf8Z(phone);
            Network(cancellationToken, (IntPtr c, out IntPtr e) => Native.ustb_login_sms_send(_handle, p, x, c, out e));
        }

        /// <summary>Submits the code the phone received and completes the login. ApiError when the
        /// SSO refuses the code (another try is allowed); InvalidArgument before SendSms.</summary>
        public void SubmitSms(string code, CancellationToken cancellationToken = default(CancellationToken))
        {
            var b = Native.Utf8Z(code);
            Network(cancellationToken, (IntPtr c, out IntPtr e) => Native.ustb_login_sms_submit(_handle, b, c, out e));
        }

        /// <summary>The cookie_vjuid_login value: a secret; store it securely and pass it later as
        /// ClientOptions.VjuidLogin. InvalidArgument before the login succeeded.</summary>
        public string GetCookie()
        {
            IntPtr cookie, error;
            Native.Check(Native.ustb_login_cookie(_handle, out cookie, out error), error);
            return Native.TakeUtf8(cookie);
        }

        /// <summary>A new client with the login's options and cookie (no network). InvalidArgument
        /// before the login succeeded.</summary>
        public UstbClient CreateClient()
        {
            IntPtr client, error;
            Native.Check(Native.ustb_login_client(_handle, out client, out error), error);
            return new UstbClient(client);
        }

        /// <summary>Gives an existing client the login's cookie (e.g. after AuthError: its login
        /// expired). Streams opened before keep their cookie. InvalidArgument before the login succeeded.</summary>
        public void Install(UstbClient client)
        {
            if (client == null) throw new ArgumentNullException("client");
            IntPtr error;
            Native.Check(Native.ustb_login_install(_handle, client.Handle, out error), error);
        }

        /// <summary>Frees the login (its cookie is forgotten; clients made from it keep theirs). A
        /// network call running on another thread is cancelled and the free waits for it to return.</summary>
        public void Dispose()
        {
            // Close first, then look for a running call: a call that starts after the close fails
            // with ObjectDisposedException; one that started before has published its canceller
            // (both sides use full fences).
            _handle.Dispose();
            var running = Interlocked.CompareExchange(ref _running, null, null);
            if (running != null)
            {
                try { Native.ustb_canceller_cancel(running); }
                catch (ObjectDisposedException) { } // the call ended meanwhile
            }
        }

        /// <summary>Runs a call that hands out bytes borrowed from the login, holding a reference
        /// on the handle until they are copied, so a Dispose on another thread cannot free them first.</summary>
        private T Borrowing<T>(Func<T> call)
        {
            bool added = false;
            try
            {
                _handle.DangerousAddRef(ref added); // throws ObjectDisposedException after Dispose
                return call();
            }
            finally { if (added) _handle.DangerousRelease(); }
        }

        private delegate int NetworkCall(IntPtr cancel, out IntPtr error);

        /// <summary>Runs one network call with a canceller of its own, which the token and Dispose
        /// cancel (a canceller stays cancelled, so it serves one call only).</summary>
        private void Network(CancellationToken token, NetworkCall call)
        {
            if (_handle.IsClosed) throw new ObjectDisposedException("UstbLogin");
            IntPtr error;
            int status;
            using (var canceller = CancellerHandle.New())
            {
                Interlocked.Exchange(ref _running, canceller);
                try
                {
                    // Disposing the registration waits for a cancel running on another thread, so
                    // the canceller is freed only after it.
                    using (token.Register(() => Native.ustb_canceller_cancel(canceller)))
                        status = call(canceller.DangerousGetHandle(), out error);
                }
                finally { Interlocked.CompareExchange(ref _running, null, canceller); }
            }
            Native.Check(status, error);
        }
    }

    /// <summary>A log line's level: the USTB_LOG_* values of the C API.</summary>
    public enum UstbLogLevel
    {
        Off = 0,
        Error = 1,
        Warn = 2,
        Info = 3,
        Debug = 4,
    }

    /// <summary>One log line of the library: a one-line English message.</summary>
    public sealed class LogEventArgs : EventArgs
    {
        public UstbLogLevel Level { get; private set; }
        public string Message { get; private set; }

        public LogEventArgs(UstbLogLevel level, string message) { Level = level; Message = message; }
    }

    /// <summary>Routes ustb_set_log_callback to UstbClient.Log: the trampoline is installed while
    /// the event has handlers and removed when it has none.</summary>
    internal static class Logging
    {
        private static readonly object Gate = new object();
        // Static, so the function pointer the library holds is never collected.
        private static readonly Native.LogCallback Trampoline = OnLine;
        private static EventHandler<LogEventArgs> _handlers; // read without the lock by OnLine
        private static UstbLogLevel _level = UstbLogLevel.Info;
        // Set while this thread runs handlers: ustb_set_log_callback refuses to run there, and
        // taking Gate there could deadlock against a setter waiting for this very callback.
        [ThreadStatic] private static bool _inHandler;

        internal static UstbLogLevel Level { get { lock (Gate) return _level; } }

        internal static void Change(EventHandler<LogEventArgs> handler, bool add)
        {
            if (handler == null) return;
            RefuseInHandler();
            lock (Gate)
            {
                var next = add ? _handlers + handler : _handlers - handler;
                Apply(next, _level);
            }
        }

        internal static void SetLevel(UstbLogLevel level)
        {
            if (level < UstbLogLevel.Off || level > UstbLogLevel.Debug) throw new ArgumentOutOfRangeException("level");
            RefuseInHandler();
            lock (Gate) Apply(_handlers, level);
        }

        private static void RefuseInHandler()
        {
            if (_inHandler) throw new InvalidOperationException("UstbClient.Log and UstbClient.LogLevel cannot be changed from inside a log handler");
        }

        /// <summary>Called with Gate held. Removing the callback waits for running handlers, so
        /// none runs after the last one is unsubscribed.</summary>
        private static void Apply(EventHandler<LogEventArgs> handlers, UstbLogLevel level)
        {
            Native.EnsureLoaded();
            IntPtr error;
            int status = handlers == null
                ? Native.ustb_set_log_callback(null, IntPtr.Zero, (int)UstbLogLevel.Off, out error)
                : Native.ustb_set_log_callback(Trampoline, IntPtr.Zero, (int)level, out error);
            Native.Check(status, error);
            Volatile.Write(ref _handlers, handlers);
            _level = level;
        }

        private static void OnLine(IntPtr userdata, int level, IntPtr message)
        {
            var handlers = Volatile.Read(ref _handlers);
            if (handlers == null) return;
            _inHandler = true;
            try
            {
                var args = new LogEventArgs((UstbLogLevel)level, Native.ReadUtf8(message));
                foreach (EventHandler<LogEventArgs> h in handlers.GetInvocationList())
                {
                    // An exception must not unwind through the library's frames; each handler runs.
                    try { h(null, args); }
                    catch (Exception) { }
                }
            }
            finally { _inHandler = false; }
        }
    }

    /// <summary>One model of an OpenAI model list (GET /v1/models), with the USTB extras.</summary>
    public sealed class Model
    {
        /// <summary>What a ChatRequest's Model takes.</summary>
        public string Id { get; internal set; }
        public string Object { get; internal set; }
        /// <summary>0: the server gives no date.</summary>
        public long Created { get; internal set; }
        public string OwnedBy { get; internal set; }
        /// <summary>The name the web page shows.</summary>
        public string Label { get; internal set; }
        /// <summary>The application offering it.</summary>
        public long ComposeId { get; internal set; }
    }

    /// <summary>An OpenAI model list, with its raw JSON.</summary>
    public sealed class ModelList
    {
        public string Object { get; private set; }
        public IList<Model> Data { get; private set; }
        public string Json { get; private set; }

        public static ModelList Parse(string json)
        {
            var root = (Dictionary<string, object>)UstbOpenAI.Json.Parse(json);
            var data = new List<Model>();
            foreach (Dictionary<string, object> m in UstbOpenAI.Json.GetList(root, "data"))
            {
                data.Add(new Model
                {
                    Id = UstbOpenAI.Json.GetString(m, "id"),
                    Object = UstbOpenAI.Json.GetString(m, "object"),
                    Created = UstbOpenAI.Json.GetLong(m, "created"),
                    OwnedBy = UstbOpenAI.Json.GetString(m, "owned_by"),
                    Label = UstbOpenAI.Json.GetString(m, "label"),
                    ComposeId = UstbOpenAI.Json.GetLong(m, "compose_id"),
                });
            }
            return new ModelList { Object = UstbOpenAI.Json.GetString(root, "object"), Data = data.AsReadOnly(), Json = json };
        }
    }

    public enum LoginStatus
    {
        /// <summary>The chat page answered 2xx: the login cookie works.</summary>
        LoggedIn,
        /// <summary>A redirect to the sign-in, 401 or 403: no login cookie, or an expired one.</summary>
        LoggedOut,
        /// <summary>No connection, a timeout, or the connection lost before an answer.</summary>
        Unreachable,
    }

    /// <summary>What UstbClient.GetLoginState found, with its raw JSON.</summary>
    public sealed class LoginState
    {
        public LoginStatus State { get; private set; }
        /// <summary>A readable explanation (for Unreachable: the error's message).</summary>
        public string Detail { get; private set; }
        /// <summary>The answer's HTTP status; null when there was none (Unreachable).</summary>
        public int? HttpStatus { get; private set; }
        /// <summary>For Unreachable: the error's type, e.g. "connect_error" or "timeout"; else null.</summary>
        public string Error { get; private set; }
        public string Json { get; private set; }

        public bool IsLoggedIn { get { return State == LoginStatus.LoggedIn; } }

        public static LoginState Parse(string json)
        {
            var root = (Dictionary<string, object>)UstbOpenAI.Json.Parse(json);
            var state = UstbOpenAI.Json.GetString(root, "state");
            LoginStatus status;
            switch (state)
            {
                case "logged_in": status = LoginStatus.LoggedIn; break;
                case "logged_out": status = LoginStatus.LoggedOut; break;
                case "unreachable": status = LoginStatus.Unreachable; break;
                default: throw new FormatException("unknown login state '" + state + "'");
            }
            var http = UstbOpenAI.Json.Get(root, "http_status");
            return new LoginState
            {
                State = status,
                Detail = UstbOpenAI.Json.GetString(root, "detail"),
                HttpStatus = http is long ? (int?)(int)(long)http : null,
                Error = UstbOpenAI.Json.GetString(root, "error"),
                Json = json,
            };
        }
    }

    /// <summary>Runs a push call: user callback behind a GCHandle, exceptions carried back across the native frames.</summary>
    internal static class Push
    {
        private sealed class State
        {
            public Func<ChatCompletionChunk, bool> OnChunk;
            public ExceptionDispatchInfo Error;
        }

        // One static delegate: a static field is never collected, so the function pointer the
        // library holds stays valid for every call; the per-call state travels in userdata.
        private static readonly Native.ChunkCallback Trampoline = OnChunk;

        private static int OnChunk(IntPtr userdata, IntPtr chunkJson, UIntPtr len)
        {
            var state = (State)GCHandle.FromIntPtr(userdata).Target;
            try
            {
                // chunkJson is borrowed for this call only: copy, never free.
                var chunk = ChatCompletionChunk.Parse(Native.ReadUtf8(chunkJson, (long)len.ToUInt64()));
                return state.OnChunk(chunk) ? 0 : 1;
            }
            catch (Exception e)
            {
                // Never let an exception unwind through native frames: stop, rethrow after.
                state.Error = ExceptionDispatchInfo.Capture(e);
                return 1;
            }
        }

        internal static UstbStatus Run(Func<ChatCompletionChunk, bool> onChunk,
                                       Func<Native.ChunkCallback, IntPtr, KeyValuePair<int, IntPtr>> call)
        {
            if (onChunk == null) throw new ArgumentNullException("onChunk");
            var state = new State { OnChunk = onChunk };
            var gch = GCHandle.Alloc(state);
            KeyValuePair<int, IntPtr> result;
            try
            {
                result = call(Trampoline, GCHandle.ToIntPtr(gch));
                GC.KeepAlive(Trampoline);
            }
            finally { gch.Free(); }
            if (state.Error != null)
            {
                Native.ustb_error_free(result.Value);
                state.Error.Throw();
            }
            Native.Check(result.Key, result.Value);
            return result.Key == (int)UstbStatus.Stopped ? UstbStatus.Stopped : UstbStatus.Ok;
        }
    }

    /// <summary>One streamed reply. Read it from one thread at a time (Next, foreach or ForEach);
    /// Cancel and Dispose may be called from any thread.</summary>
    /// <remarks>No lock: Cancel goes through a ustb_canceller, which stays valid after the free,
    /// and each read holds a reference on the StreamHandle, so Dispose's native free (which must
    /// not race a running read) happens when the last read returns.</remarks>
    public sealed class ChatStream : IDisposable, IEnumerable<ChatCompletionChunk>
    {
        private readonly StreamHandle _handle;
        private readonly CancellerHandle _canceller;
        private int _reading; // 1 while a read runs, for a clear error on a second, concurrent one
        private CancellationTokenRegistration _registration;

        internal ChatStream(StreamHandle handle, CancellationToken cancellationToken)
        {
            _handle = handle;
            IntPtr error;
            int status = Native.ustb_chat_stream_canceller(handle, out _canceller, out error);
            if (status != (int)UstbStatus.Ok) _handle.Dispose();
            Native.Check(status, error);
            // The token may fire on any thread, also during or after Dispose: Cancel is safe then.
            _registration = cancellationToken.Register(Cancel);
        }

        /// <summary>The next chunk, or null when the reply is complete. Throws UstbException
        /// (Cancelled, Truncated, ConnectionLost, Timeout, …) on failure; later reads throw the same.</summary>
        public ChatCompletionChunk Next()
        {
            var json = NextJson();
            return json == null ? null : ChatCompletionChunk.Parse(json);
        }

        /// <summary>The next chunk's raw JSON, or null at the end.</summary>
        public string NextJson()
        {
            IntPtr p = BeginRead();
            try
            {
                IntPtr chunk, error;
                UIntPtr len;
                int status = Native.ustb_chat_stream_next(p, out chunk, out len, out error);
                Native.Check(status, error);
                return status == (int)UstbStatus.Ok ? Native.TakeUtf8(chunk, (long)len.ToUInt64()) : null;
            }
            finally { EndRead(); }
        }

        /// <summary>Push style on the calling thread; see UstbClient.StreamChatCompletion(request, onChunk).</summary>
        public UstbStatus ForEach(Func<ChatCompletionChunk, bool> onChunk)
        {
            IntPtr p = BeginRead();
            try
            {
                return Push.Run(onChunk, (cb, userdata) =>
                {
                    IntPtr error;
                    int status = Native.ustb_chat_stream_for_each(p, cb, userdata, out error);
                    return new KeyValuePair<int, IntPtr>(status, error);
                });
            }
            finally { EndRead(); }
        }

        /// <summary>Makes a read blocked in another thread end promptly with Status Cancelled.
        /// Thread-safe, idempotent, never blocks; a no-op after Dispose.</summary>
        public void Cancel()
        {
            try { Native.ustb_canceller_cancel(_canceller); }
            catch (ObjectDisposedException) { } // disposed with the stream: nothing left to cancel
        }

        /// <summary>Frees the stream. If another thread is reading, it is cancelled first and the
        /// native free waits (via the SafeHandle reference) until that read has returned.</summary>
        public void Dispose()
        {
            _registration.Dispose();
            Cancel();
            _handle.Dispose();
            _canceller.Dispose();
        }

        public IEnumerator<ChatCompletionChunk> GetEnumerator()
        {
            ChatCompletionChunk chunk;
            while ((chunk = Next()) != null) yield return chunk;
        }

        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }

        private IntPtr BeginRead()
        {
            if (Interlocked.CompareExchange(ref _reading, 1, 0) != 0)
                throw new InvalidOperationException("ChatStream is already being read by another thread");
            bool added = false;
            try { _handle.DangerousAddRef(ref added); } // throws ObjectDisposedException after Dispose
            finally { if (!added) Volatile.Write(ref _reading, 0); }
            return _handle.DangerousGetHandle();
        }

        private void EndRead()
        {
            Volatile.Write(ref _reading, 0);
            _handle.DangerousRelease(); // frees the native stream here if Dispose ran meanwhile
        }
    }

    /// <summary>A small JSON reader/writer: objects become Dictionary&lt;string, object&gt;, arrays
    /// List&lt;object&gt;, numbers long or double, plus string, bool and null.</summary>
    public static class Json
    {
        public static object Parse(string text)
        {
            if (text == null) return null;
            int i = 0;
            var v = ParseValue(text, ref i);
            SkipWs(text, ref i);
            if (i != text.Length) throw new FormatException("trailing characters in JSON at " + i);
            return v;
        }

        public static object Get(Dictionary<string, object> o, string key)
        {
            object v;
            return o != null && o.TryGetValue(key, out v) ? v : null;
        }

        public static string GetString(Dictionary<string, object> o, string key) { return Get(o, key) as string; }
        public static Dictionary<string, object> GetObject(Dictionary<string, object> o, string key) { return Get(o, key) as Dictionary<string, object>; }

        public static List<object> GetList(Dictionary<string, object> o, string key)
        {
            return Get(o, key) as List<object> ?? new List<object>();
        }

        public static long GetLong(Dictionary<string, object> o, string key)
        {
            var v = Get(o, key);
            if (v is long) return (long)v;
            if (v is double) return (long)(double)v;
            return 0;
        }

        public static string Quote(string s)
        {
            var sb = new StringBuilder(s.Length + 2).Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4"));
                        else sb.Append(c);
                        break;
                }
            }
            return sb.Append('"').ToString();
        }

        /// <summary>A JSON array of already-encoded items.</summary>
        public static string ArrayOf(IEnumerable<string> rawItems)
        {
            return "[" + string.Join(",", rawItems) + "]";
        }

        /// <summary>Builds one object, skipping null members.</summary>
        public sealed class ObjectWriter
        {
            private readonly StringBuilder _sb = new StringBuilder("{");

            public ObjectWriter AddRaw(string key, string rawJson)
            {
                if (rawJson == null) return this;
                if (_sb.Length > 1) _sb.Append(',');
                _sb.Append(Quote(key)).Append(':').Append(rawJson);
                return this;
            }

            public ObjectWriter Add(string key, string value) { return AddRaw(key, value == null ? null : Quote(value)); }
            public ObjectWriter Add(string key, long? value) { return AddRaw(key, value.HasValue ? value.Value.ToString(CultureInfo.InvariantCulture) : null); }
            public ObjectWriter Add(string key, bool? value) { return AddRaw(key, value.HasValue ? (value.Value ? "true" : "false") : null); }
            public override string ToString() { return _sb.ToString() + "}"; }
        }

        private static void SkipWs(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        private static FormatException Bad(string s, int i) { return new FormatException("bad JSON at " + i); }

        private static object ParseValue(string s, ref int i)
        {
            SkipWs(s, ref i);
            if (i >= s.Length) throw Bad(s, i);
            char c = s[i];
            if (c == '{')
            {
                var o = new Dictionary<string, object>();
                i++;
                SkipWs(s, ref i);
                if (i < s.Length && s[i] == '}') { i++; return o; }
                while (true)
                {
                    SkipWs(s, ref i);
                    if (i >= s.Length || s[i] != '"') throw Bad(s, i);
                    string key = ParseString(s, ref i);
                    SkipWs(s, ref i);
                    if (i >= s.Length || s[i] != ':') throw Bad(s, i);
                    i++;
                    o[key] = ParseValue(s, ref i);
                    SkipWs(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    if (i < s.Length && s[i] == '}') { i++; return o; }
                    throw Bad(s, i);
                }
            }
            if (c == '[')
            {
                var a = new List<object>();
                i++;
                SkipWs(s, ref i);
                if (i < s.Length && s[i] == ']') { i++; return a; }
                while (true)
                {
                    a.Add(ParseValue(s, ref i));
                    SkipWs(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    if (i < s.Length && s[i] == ']') { i++; return a; }
                    throw Bad(s, i);
                }
            }
            if (c == '"') return ParseString(s, ref i);
            if (Literal(s, ref i, "true")) return true;
            if (Literal(s, ref i, "false")) return false;
            if (Literal(s, ref i, "null")) return null;
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            if (start == i) throw Bad(s, i);
            string num = s.Substring(start, i - start);
            long l;
            if (long.TryParse(num, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
            double d;
            if (double.TryParse(num, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
            throw Bad(s, start);
        }

        private static bool Literal(string s, ref int i, string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) return false;
            i += word.Length;
            return true;
        }

        private static string ParseString(string s, ref int i)
        {
            i++; // opening quote
            var sb = new StringBuilder();
            while (true)
            {
                if (i >= s.Length) throw Bad(s, i);
                char c = s[i++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                if (i >= s.Length) throw Bad(s, i);
                char e = s[i++];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'u':
                        // UTF-16 code units: a surrogate pair arrives as two \u escapes, appended in turn.
                        if (i + 4 > s.Length) throw Bad(s, i);
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: sb.Append(e); break; // \" \\ \/
                }
            }
        }
    }
}
