// Starts the bundled emulator (USTB_EMULATOR) on port 0 and reads its one address line.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const binary = process.env.USTB_EMULATOR ?? join(repo, 'target', 'debug', 'ustb-emulator');

/**
 * @param {string[]} [args] extra flags, e.g. `['--delay-ms', '50']`
 * @returns {Promise<{url: string, stop: () => void}>}
 */
export function startEmulator(args = []) {
  const child = spawn(binary, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${binary} printed no address within 10 s`));
    }, 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${binary}: ${e.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${binary} exited early (code ${code})`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /^ustb-emulator listening on (http:\/\/\S+)$/.exec(line);
      if (!m) {
        stop();
        reject(new Error(`unexpected emulator output: ${line}`));
        return;
      }
      child.stdout.resume(); // keep draining, nothing else is expected
      resolve({ url: m[1], stop });
    });
  });
}
