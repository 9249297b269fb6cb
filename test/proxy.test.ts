import { expect } from 'chai';

import { requestPresign } from '../src/telemetry/upload/presign.js';
import { RecordingServer } from './helpers/recording-server.js';

describe('presign and HTTP_PROXY', () => {
  let api: RecordingServer;
  let proxy: RecordingServer;
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy, NO_PROXY: process.env.NO_PROXY, no_proxy: process.env.no_proxy };

  beforeEach(async () => {
    api = await RecordingServer.start();
    proxy = await RecordingServer.start();
    // Both servers are on 127.0.0.1: the "proxy" only records what would have gone through it.
    process.env.HTTP_PROXY = proxy.url;
    process.env.http_proxy = proxy.url;
    delete process.env.NO_PROXY;
    delete process.env.no_proxy;
  });

  afterEach(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await api.close();
    await proxy.close();
  });

  it('bypasses the proxy for loopback http', async () => {
    const grant = await requestPresign(
      api.url,
      { sha256: 'a'.repeat(64), size: 3, metadata: {} },
      { timeoutMs: 5000, signal: new AbortController().signal, now: Date.now },
    );

    expect(grant.uploadUrl.href.startsWith(api.url)).to.equal(true);
    expect(api.presigns()).to.have.length(1);
    expect(proxy.connections).to.equal(0);
  });
});
