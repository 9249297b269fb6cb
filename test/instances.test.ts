import { expect } from 'chai';

import { errorCode } from '../src/errors.js';
import { parseInstances } from '../src/node/instances.js';

function problemOf(document: unknown): string {
  try {
    parseInstances('/etc/exo/instances.json', document);
  } catch (error) {
    expect(errorCode(error)).to.equal('ERR_INVALID_INSTANCES_FILE');
    return (error as Error).message;
  }
  throw new Error('expected the document to be rejected');
}

const runner = { runnerId: 'r0', command: ['python3', 'serve.py'] };

describe('parseInstances', () => {
  it('reads a valid file with defaults', () => {
    const [instance] = parseInstances('/srv/exo/instances.json', { instances: [{ instanceId: 'llama-8b', runners: [runner] }] });
    expect(instance!.maxRetries).to.equal(5);
    expect(instance!.runners[0]!.cwd).to.equal('/srv/exo');
    expect(instance!.runners[0]!.env).to.deep.equal({});
  });

  it('resolves cwd against the file folder', () => {
    const [instance] = parseInstances('/srv/exo/instances.json', {
      instances: [{ instanceId: 'a', runners: [{ ...runner, cwd: 'models/llama' }] }],
    });
    expect(instance!.runners[0]!.cwd).to.equal('/srv/exo/models/llama');
  });

  const cases: Array<[string, unknown, string]> = [
    ['missing instances', {}, '$.instances is missing'],
    ['missing runner command', { instances: [{ instanceId: 'a', runners: [{ runnerId: 'r0' }] }] }, '$.instances[0].runners[0].command is missing'],
    ['empty command', { instances: [{ instanceId: 'a', runners: [{ runnerId: 'r0', command: [] }] }] }, '$.instances[0].runners[0].command'],
    ['id with dot-dot', { instances: [{ instanceId: '../x', runners: [runner] }] }, '$.instances[0].instanceId is "../x"'],
    ['id with slash', { instances: [{ instanceId: 'a', runners: [{ ...runner, runnerId: 'a/b' }] }] }, '$.instances[0].runners[0].runnerId'],
    ['empty id', { instances: [{ instanceId: '', runners: [runner] }] }, '$.instances[0].instanceId is ""'],
    ['control character id', { instances: [{ instanceId: 'a\nb', runners: [runner] }] }, '$.instances[0].instanceId'],
    ['maxRetries as string', { instances: [{ instanceId: 'a', maxRetries: '5', runners: [runner] }] }, '$.instances[0].maxRetries is "5"'],
    ['command as string', { instances: [{ instanceId: 'a', runners: [{ runnerId: 'r0', command: 'python3 serve.py' }] }] }, 'command is a string'],
    ['env value number', { instances: [{ instanceId: 'a', runners: [{ ...runner, env: { PORT: 8080 } }] }] }, 'env.PORT'],
    ['unknown field', { instances: [{ instanceId: 'a', maxRetry: 3, runners: [runner] }] }, '$.instances[0].maxRetry is not a known field'],
    ['duplicate instance', { instances: [{ instanceId: 'a', runners: [runner] }, { instanceId: 'a', runners: [runner] }] }, 'repeats "a"'],
    ['duplicate runner', { instances: [{ instanceId: 'a', runners: [runner, runner] }] }, 'repeats "r0"'],
  ];
  for (const [name, document, expected] of cases) {
    it(`rejects ${name}`, () => {
      const message = problemOf(document);
      expect(message).to.contain('/etc/exo/instances.json');
      expect(message).to.contain(expected);
      expect(message).to.match(/expected|unique/);
    });
  }
});
