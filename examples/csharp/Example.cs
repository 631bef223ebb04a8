// Example: stream one reply of 北科大 AI 助手 to stdout through the C# wrapper.
//
//   mono Example.exe [--base-url URL] [--cookie "easy_session=…; cookie_vjuid_login=…"] [prompt]
//
// The thinking (reasoning_content) is printed first under 【思考】, then the answer under
// 【回答】. The cookie may also come from USTB_COOKIE. Exit status: 0 ok, 1 library error, 2 usage.
using System;
using System.Text;
using UstbOpenAI;

internal static class Example
{
    private static int Main(string[] args)
    {
        string baseUrl = null, cookie = Environment.GetEnvironmentVariable("USTB_COOKIE"), prompt = "请介绍你自己。";
        for (int i = 0; i < args.Length; i++)
        {
            if ((args[i] == "--base-url" || args[i] == "--cookie") && i + 1 < args.Length)
            {
                if (args[i] == "--base-url") baseUrl = args[++i]; else cookie = args[++i];
            }
            else if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                Console.Error.WriteLine("usage: Example.exe [--base-url URL] [--cookie COOKIE] [prompt]");
                return 2;
            }
            else prompt = args[i];
        }

        // Chinese text must reach the terminal as UTF-8 whatever the locale says.
        var stdout = new System.IO.StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
        try
        {
            using (var client = new UstbClient(new ClientOptions { BaseUrl = baseUrl, Cookie = cookie }))
            using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt(prompt)))
            {
                // Ctrl+C cancels the read instead of killing the process mid-call.
                Console.CancelKeyPress += (s, e) => { e.Cancel = true; stream.Cancel(); };
                string phase = null;
                foreach (var chunk in stream)
                {
                    if (chunk.Choices.Count == 0) continue; // the usage chunk
                    var delta = chunk.Choices[0].Delta;
                    if (!string.IsNullOrEmpty(delta.ReasoningContent))
                    {
                        if (phase == null) stdout.Write("【思考】\n");
                        phase = "think";
                        stdout.Write(delta.ReasoningContent);
                    }
                    if (!string.IsNullOrEmpty(delta.Content))
                    {
                        if (phase == "think") stdout.Write("\n\n");
                        if (phase != "answer") stdout.Write("【回答】\n");
                        phase = "answer";
                        stdout.Write(delta.Content);
                    }
                    stdout.Flush();
                }
                stdout.Write("\n");
                stdout.Flush();
            }
            return 0;
        }
        catch (UstbException e)
        {
            stdout.Flush();
            Console.Error.WriteLine("\n" + UstbClient.StatusName(e.Status) + ": " + e.Message);
            return 1;
        }
    }
}
