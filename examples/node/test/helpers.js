// Helpers shared by the test files.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { UstbError } from '../index.js';

/** Asserts that `promise` rejects with a UstbError of `status`, and returns it. */
export async function rejectsWith(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof UstbError, `expected a UstbError, got ${e}`);
    assert.equal(e.status, status, `status ${e.statusName}: ${e.message}`);
    return e;
  }
  assert.fail(`expected status ${status}, but it succeeded`);
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export function closedPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}
