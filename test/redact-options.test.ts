import os from 'node:os';

import { expect } from 'chai';
import sinon from 'sinon';

import { distinctiveNames, localRedactOptions } from '../src/telemetry/redact/options.js';

describe('localRedactOptions', () => {
  const savedEnvironment = { USER: process.env.USER, LOGNAME: process.env.LOGNAME, USERNAME: process.env.USERNAME };

  afterEach(() => {
    sinon.restore();
    for (const [name, value] of Object.entries(savedEnvironment)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('reads user, host and home', () => {
    sinon.stub(os, 'userInfo').returns({ username: 'jdoe', homedir: '/srv/homes/jdoe', uid: 1000, gid: 1000, shell: '/bin/sh' });
    sinon.stub(os, 'homedir').returns('/srv/homes/jdoe');
    sinon.stub(os, 'hostname').returns('buildbox-17.example.net');
    process.env.USER = 'jdoe';
    delete process.env.LOGNAME;
    delete process.env.USERNAME;

    expect(localRedactOptions()).to.deep.equal({
      userNames: ['jdoe'],
      hostNames: ['buildbox-17.example.net', 'buildbox-17'],
      homeDirs: ['/srv/homes/jdoe'],
    });
  });

  it('falls back to the environment', () => {
    sinon.stub(os, 'userInfo').throws(Object.assign(new Error('no passwd entry'), { code: 'ENOENT' }));
    sinon.stub(os, 'homedir').returns('/');
    sinon.stub(os, 'hostname').returns('box');
    process.env.USER = 'svc-exo';
    process.env.LOGNAME = 'svc-exo';
    delete process.env.USERNAME;

    expect(localRedactOptions()).to.deep.equal({ userNames: ['svc-exo'], hostNames: ['box'], homeDirs: [] });
  });
});

describe('distinctiveNames', () => {
  it('drops short, common and repeated names', () => {
    expect(distinctiveNames(['li', 'root', 'Admin', 'jdoe', ' jdoe ', 'exo', 'zoë'])).to.deep.equal(['jdoe', 'zoë']);
  });
});
