// Measures the C# wrapper's streaming rate for `make bench` (examples/rust/bench.rs): reads
// one reply with foreach over the ChatStream, every chunk parsed into a ChatCompletionChunk as
// a user gets it, once to warm up and then RUNS times, and prints
//
//   chunks N
//   chunks/s MEDIAN
//   cpu-chunks/s MEDIAN
//
// by wall clock, then per CPU-second of the whole process (every thread: the GC's too).
// Usage: mono Bench.exe BASE_URL [RUNS]. The server is bench.rs's canned one, which replays
// the same captured reply to every request.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using UstbOpenAI;

internal static class Bench
{
    private static int Main(string[] args)
    {
        int runs = 7;
        if (args.Length < 1 || (args.Length > 1 && (!int.TryParse(args[1], out runs) || runs < 1)))
        {
            Console.Error.WriteLine("usage: mono Bench.exe BASE_URL [RUNS]");
            return 2;
        }
        using (var client = new UstbClient(new ClientOptions { BaseUrl = args[0], VjuidLogin = "bench" }))
        {
            int chunks = Read(client); // warm-up: connection, JIT
            var rates = new List<double>();
            var cpuRates = new List<double>();
            var self = Process.GetCurrentProcess();
            for (int i = 0; i < runs; i++)
            {
                self.Refresh();
                var cpu = self.TotalProcessorTime;
                var watch = Stopwatch.StartNew();
                int n = Read(client);
                if (n != chunks) throw new Exception("run " + i + " read " + n + " chunks, the warm-up " + chunks);
                rates.Add(n / watch.Elapsed.TotalSeconds);
                self.Refresh();
                cpuRates.Add(n / (self.TotalProcessorTime - cpu).TotalSeconds);
            }
            Console.WriteLine("chunks " + chunks);
            Console.WriteLine("chunks/s " + Median(rates));
            Console.WriteLine("cpu-chunks/s " + Median(cpuRates));
        }
        return 0;
    }

    private static string Median(List<double> v)
    {
        v.Sort();
        return v[v.Count / 2].ToString("F0", CultureInfo.InvariantCulture);
    }

    // Streams one reply; returns its chunk count. Asks for the usage chunk, as the C API side does.
    private static int Read(UstbClient client)
    {
        var request = ChatRequest.FromPrompt("bench");
        request.IncludeUsage = true;
        int n = 0;
        long text = 0;
        using (var stream = client.StreamChatCompletion(request))
        {
            foreach (var chunk in stream)
            {
                n++;
                if (chunk.Choices.Count > 0 && chunk.Choices[0].Delta.Content != null)
                    text += chunk.Choices[0].Delta.Content.Length; // touch the delta, as a reader would
            }
        }
        if (text == 0) throw new Exception("the reply carried no content");
        return n;
    }
}
