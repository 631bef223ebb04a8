// Login example: log in with the WeChat QR code through the university SSO, then stream one
// reply of 北科大 AI 助手 with the new client, through the C# wrapper.
//
//   mono Login.exe [--base-url URL] [--sso-base-url URL] [--sis-base-url URL]
//                  [--cookie-file PATH] [prompt]
//
// The URLs may also come from USTB_BASE_URL, USTB_SSO_BASE_URL and USTB_SIS_BASE_URL (defaults:
// the real servers; the emulator serves all three on one port). The QR code is printed as text;
// progress lines are "waiting", "scanned", "confirmed" and "expired" (a new code follows).
// With --cookie-file the cookie is saved there, readable by you only (0600); it is never
// printed. Ctrl+C cancels. Exit status: 0 ok, 1 library error, 2 usage.
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using UstbOpenAI;

internal static class Login
{
    private const int MaxCodes = 10; // a code lives about 3 minutes: this bounds the wait to ~30

    private static int Main(string[] args)
    {
        var options = new LoginOptions
        {
            BaseUrl = Environment.GetEnvironmentVariable("USTB_BASE_URL"),
            SsoBaseUrl = Environment.GetEnvironmentVariable("USTB_SSO_BASE_URL"),
            SisBaseUrl = Environment.GetEnvironmentVariable("USTB_SIS_BASE_URL"),
        };
        string cookieFile = null, prompt = "请介绍你自己。";
        for (int i = 0; i < args.Length; i++)
        {
            bool hasValue = i + 1 < args.Length;
            if (args[i] == "--base-url" && hasValue) options.BaseUrl = args[++i];
            else if (args[i] == "--sso-base-url" && hasValue) options.SsoBaseUrl = args[++i];
            else if (args[i] == "--sis-base-url" && hasValue) options.SisBaseUrl = args[++i];
            else if (args[i] == "--cookie-file" && hasValue) cookieFile = args[++i];
            else if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                Console.Error.WriteLine("usage: Login.exe [--base-url URL] [--sso-base-url URL] [--sis-base-url URL] [--cookie-file PATH] [prompt]");
                return 2;
            }
            else prompt = args[i];
        }

        // Chinese text and the QR code's block characters must reach the terminal as UTF-8.
        var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
        using (var cts = new CancellationTokenSource())
        {
            // Ctrl+C cancels the call in progress instead of killing the process mid-call.
            Console.CancelKeyPress += (s, e) => { e.Cancel = true; cts.Cancel(); };
            try
            {
                using (var login = new UstbLogin(options))
                {
                    if (!WaitForScan(login, stdout, cts.Token)) return 1;
                    using (var client = login.CreateClient())
                        StreamAnswer(client, prompt, stdout, cts.Token);
                    SaveCookie(login.GetCookie(), cookieFile, stdout);
                }
                return 0;
            }
            catch (UstbException e)
            {
                Console.Error.WriteLine(UstbClient.StatusName(e.Status) + ": " + e.Message);
                if (e.Status == UstbStatus.AuthError) Console.Error.WriteLine("the QR session is no longer valid: run the example again");
                return 1;
            }
        }
    }

    /// <summary>Shows QR codes until one is confirmed, renewing expired ones; false if none was.</summary>
    private static bool WaitForScan(UstbLogin login, TextWriter stdout, CancellationToken token)
    {
        for (int code = 0; code < MaxCodes; code++)
        {
            login.StartQr(token);
            stdout.WriteLine(login.GetQrText());
            stdout.WriteLine("Scan the QR code with WeChat and confirm on the phone.");
            QrState shown = QrState.Failed, state;
            do
            {
                // Each wait returns at a change, or after 30 s with the state unchanged.
                state = login.WaitQr(TimeSpan.FromSeconds(30), token);
                if (state != shown) stdout.WriteLine(state.ToString().ToLowerInvariant());
                shown = state;
            } while (state == QrState.Waiting || state == QrState.Scanned);
            if (state == QrState.Confirmed) return true;
            stdout.WriteLine("the QR code expired: here is a new one");
        }
        Console.Error.WriteLine("no QR code was confirmed; giving up");
        return false;
    }

    private static void StreamAnswer(UstbClient client, string prompt, TextWriter stdout, CancellationToken token)
    {
        var request = ChatRequest.FromPrompt(prompt);
        request.DeepThinking = false;
        stdout.WriteLine("【回答】");
        using (var stream = client.StreamChatCompletion(request, token))
            foreach (var chunk in stream)
                if (chunk.Choices.Count > 0) stdout.Write(chunk.Choices[0].Delta.Content);
        stdout.WriteLine();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int chmod(byte[] path, uint mode); // path: NUL-terminated UTF-8

    /// <summary>Writes the cookie to path, readable by its owner only; without a path, only says
    /// where it would go. The cookie itself is never printed: it is the login.</summary>
    private static void SaveCookie(string cookie, string path, TextWriter stdout)
    {
        if (path == null)
        {
            stdout.WriteLine("would save the cookie to the file given with --cookie-file (mode 0600)");
            return;
        }
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            // Restrict the (still empty) file before the secret goes in.
            if (chmod(Encoding.UTF8.GetBytes(path + "\0"), Convert.ToUInt32("600", 8)) != 0)
                throw new IOException("chmod 0600 " + path + " failed: errno " + Marshal.GetLastWin32Error());
            var bytes = Encoding.UTF8.GetBytes(cookie + "\n");
            file.Write(bytes, 0, bytes.Length);
        }
        stdout.WriteLine("cookie saved to " + path + " (mode 0600)");
    }
}
