// What consumer-test.sh builds against the installed UstbOpenAI package: one streamed reply
// (args: base URL, login cookie).
using System;
using UstbOpenAI;

internal static class Consumer
{
    private static void Main(string[] args)
    {
        using (var client = new UstbClient(new ClientOptions { BaseUrl = args[0], VjuidLogin = args[1] }))
        using (var stream = client.StreamChatCompletion(ChatRequest.FromPrompt("你好")))
            foreach (var chunk in stream)
                if (chunk.Choices.Count > 0) Console.Write(chunk.Choices[0].Delta.Content);
        Console.WriteLine();
    }
}
