import { expect } from 'chai';

import { errorCode, UsageError } from '../src/errors.js';
import { checkUploadUrl, DEFAULT_TELEMETRY_API_URL, isLoopbackHost, redactUrlForLog, resolveApiUrl } from '../src/telemetry/api-url.js';

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, got none');
}

describe('resolveApiUrl', () => {
  it('prefers the flag over the environment', () => {
    const url = resolveApiUrl('https://flag.example/', { EXO_TELEMETRY_API_URL: 'https://env.example' });
    expect(url).to.equal('https://flag.example');
  });

  it('falls back to the environment', () => {
    expect(resolveApiUrl(undefined, { EXO_TELEMETRY_API_URL: 'https://env.example/base/' })).to.equal('https://env.example/base');
  });

  it('falls back to the default', () => {
    expect(DEFAULT_TELEMETRY_API_URL).to.equal('https://telemetry.exolabs.net/');
    expect(resolveApiUrl(undefined, {})).to.equal('https://telemetry.exolabs.net');
    expect(resolveApiUrl(undefined, { EXO_TELEMETRY_API_URL: '' })).to.equal('https://telemetry.exolabs.net');
  });

  it('allows http to loopback hosts', () => {
    expect(resolveApiUrl('http://127.0.0.1:8787/', {})).to.equal('http://127.0.0.1:8787');
    expect(resolveApiUrl('http://127.3.4.5:1', {})).to.equal('http://127.3.4.5:1');
    expect(resolveApiUrl('http://[::1]:8787', {})).to.equal('http://[::1]:8787');
    expect(resolveApiUrl('http://localhost:8787', {})).to.equal('http://localhost:8787');
  });

  it('rejects http to other hosts', () => {
    const error = thrownBy(() => resolveApiUrl('http://telemetry.example.com', {}));
    expect(error).to.be.instanceOf(UsageError);
    expect(errorCode(error)).to.equal('ERR_INVALID_TELEMETRY_API_URL');
    expect((error as Error).message).to.contain('"http://telemetry.example.com"');
    expect((error as Error).message).to.contain('--telemetry-api-url');
  });

  it('names the environment variable as source', () => {
    const error = thrownBy(() => resolveApiUrl(undefined, { EXO_TELEMETRY_API_URL: 'http://10.0.0.1' }));
    expect((error as Error).message).to.contain('from EXO_TELEMETRY_API_URL');
  });

  it('rejects invalid and unusable URLs', () => {
    for (const value of ['', 'not a url', 'ftp://example.com', 'https://user:pw@example.com', 'https://example.com/?q=1', 'https://example.com/#x', 'http://127.0.0.1.example.com']) {
      expect(errorCode(thrownBy(() => resolveApiUrl(value, {}))), value).to.equal('ERR_INVALID_TELEMETRY_API_URL');
    }
  });
});

describe('isLoopbackHost', () => {
  it('recognizes loopback forms', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.255.255.254', '[::1]', '[::ffff:7f00:1]']) {
      expect(isLoopbackHost(host), host).to.equal(true);
    }
  });

  it('rejects other hosts', () => {
    for (const host of ['10.0.0.1', '128.0.0.1', '[::2]', '[::ffff:a00:1]', 'localhost.example.com', 'example.com']) {
      expect(isLoopbackHost(host), host).to.equal(false);
    }
  });
});

describe('checkUploadUrl', () => {
  it('accepts https with a query', () => {
    expect(checkUploadUrl('https://bucket.example/key?X-Amz-Signature=abc').hostname).to.equal('bucket.example');
  });

  it('rejects http to other hosts', () => {
    const error = thrownBy(() => checkUploadUrl('http://bucket.example/key?X-Amz-Signature=abc'));
    expect(errorCode(error)).to.equal('ERR_INVALID_UPLOAD_URL');
    expect((error as Error).message).not.to.contain('X-Amz-Signature');
  });

  it('rejects other schemes', () => {
    expect(errorCode(thrownBy(() => checkUploadUrl('file:///etc/passwd')))).to.equal('ERR_INVALID_UPLOAD_URL');
    expect(errorCode(thrownBy(() => checkUploadUrl('relative/path')))).to.equal('ERR_INVALID_UPLOAD_URL');
  });
});

describe('redactUrlForLog', () => {
  it('drops query and fragment', () => {
    expect(redactUrlForLog('https://bucket.example/a/b?X-Amz-Signature=abc#f')).to.equal('https://bucket.example/a/b');
  });
});
