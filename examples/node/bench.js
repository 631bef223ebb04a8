#!/usr/bin/env node
// Measures the Node wrapper's streaming rate for `make bench` (examples/rust/bench.rs): reads
// one reply with `for await`, every chunk parsed into an object as a user gets it, once to
// warm up and then RUNS times, and prints
//
//   chunks N
//   chunks/s MEDIAN
//   cpu-chunks/s MEDIAN
//
// by wall clock, then per CPU-second of the whole process (every thread: koffi's workers and
// the GC's too). Usage: node bench.js BASE_URL [RUNS]. The server is bench.rs's canned one,
// which replays the same captured reply to every request.
import { Client } from './index.js';

const [baseUrl, runsArg = '7'] = process.argv.slice(2);
const runs = Number(runsArg);
if (!baseUrl || !Number.isInteger(runs) || runs < 1) {
  process.stderr.write('usage: node bench.js BASE_URL [RUNS]\n');
  process.exit(2);
}

const client = new Client({ base_url: baseUrl, vjuid_login: 'bench' });

/** Streams one reply; returns its chunk count. Asks for the usage chunk, as the C API side does. */
async function read() {
  const stream = await client.chat.completions.create({
    messages: [{ role: 'user', content: 'bench' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let n = 0;
  let text = 0;
  for await (const chunk of stream) {
    n++;
    text += chunk.choices[0]?.delta?.content?.length ?? 0; // touch the delta, as a reader would
  }
  if (text === 0) throw new Error('the reply carried no content');
  return n;
}

/** @param {number[]} v */
function median(v) {
  v.sort((a, b) => a - b);
  return v[v.length >> 1];
}

try {
  const chunks = await read(); // warm-up: connection, JIT
  const rates = [];
  const cpuRates = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const n = await read();
    if (n !== chunks) throw new Error(`run ${i} read ${n} chunks, the warm-up ${chunks}`);
    const used = process.cpuUsage(cpu);
    cpuRates.push(n / ((used.user + used.system) / 1e6));
    rates.push(n / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  process.stdout.write(
    `chunks ${chunks}\nchunks/s ${median(rates).toFixed(0)}\ncpu-chunks/s ${median(cpuRates).toFixed(0)}\n`,
  );
} finally {
  client.close();
}
