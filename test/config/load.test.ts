// loadConfig: the embedded default, file values, OUTPOST_* overrides, and refusals that name
// the key, the problem and where the value came from; plus a fast-check property that
// nothing but ConfigError ever escapes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigError, configSchema, embeddedDefault, loadConfig } from '../../src/config/index.ts';
import { tempDir } from '../helpers/vault.ts';

const dir = await tempDir('outpost-config-test-');
after(() => dir.remove());

let files = 0;
function configFile(content: unknown): string {
  const path = join(dir.path, `config-${files++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** The ConfigError thrown by `fn`, failing the test when something else happens. */
function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('no file: the embedded development default', () => {
  const { config, source, overrides } = loadConfig({ env: {} });
  assert.equal(source, 'embedded default');
  assert.deepEqual(overrides, []);
  assert.equal(config.dataDir, './var');
  assert.equal(config.http.port, 8443);
  assert.equal(config.http.host, '127.0.0.1');
  assert.equal(config.rootKey.provider, 'auto');
  assert.equal(config.rootKey.allowFile, true);
  assert.equal(config.rootKey.file, undefined);
  assert.deepEqual(config.http.tls, {});
  assert.equal(config.log.level, 'info');
  assert.equal(config.vault.rotationBatch, 500);
  assert.ok(configSchema.safeParse(config).success);
  // The default object itself is not mutated by overrides.
  loadConfig({ env: { OUTPOST_HTTP__PORT: '1' } });
  assert.equal(embeddedDefault.http?.port, 8443);
});

test('a file replaces the embedded default; schema defaults fill the rest', () => {
  const file = configFile({ dataDir: '/srv/outpost', http: { port: 9000 }, rootKey: { provider: 'tpm', tpm: { tcti: 'swtpm:port=2321' } } });
  const { config, source } = loadConfig({ file, env: {} });
  assert.equal(source, file);
  assert.equal(config.dataDir, '/srv/outpost');
  assert.equal(config.http.port, 9000);
  assert.equal(config.http.host, '::');
  assert.equal(config.rootKey.provider, 'tpm');
  assert.equal(config.rootKey.tpm.tcti, 'swtpm:port=2321');
  assert.equal(config.rootKey.allowFile, false, 'the file root is refused unless a file config allows it');
  assert.equal(config.rootKey.piOtp.program, false);
});

test('OUTPOST_CONFIG names the file when --config does not; --config wins', () => {
  const a = configFile({ http: { port: 1001 } });
  const b = configFile({ http: { port: 1002 } });
  assert.equal(loadConfig({ env: { OUTPOST_CONFIG: a } }).config.http.port, 1001);
  assert.equal(loadConfig({ file: b, env: { OUTPOST_CONFIG: a } }).config.http.port, 1002);
});

test('environment overrides: numbers, booleans, strings and enums at any depth', () => {
  const file = configFile({ http: { port: 9000, host: '0.0.0.0' }, rootKey: { provider: 'file' } });
  const { config, overrides } = loadConfig({
    file,
    env: {
      OUTPOST_HTTP__PORT: '9443',
      OUTPOST_HTTP__KEEP_ALIVE_TIMEOUT_MS: '5000',
      OUTPOST_DATA_DIR: '/tmp/x',
      OUTPOST_ROOT_KEY__FILE: '/tmp/x/root.key',
      OUTPOST_ROOT_KEY__ALLOW_FILE: 'true',
      OUTPOST_ROOT_KEY__PROVIDER: 'auto',
      OUTPOST_ROOT_KEY__PI_OTP__PROGRAM: 'false',
      OUTPOST_ROOT_KEY__TPM__TCTI: 'device:/dev/tpm0',
      OUTPOST_LOG__LEVEL: 'trace',
      OUTPOST_APPLIANCE_ID: '12345', // a string key: digits stay a string
      PATH: '/usr/bin', // not ours: ignored
    },
  });
  assert.equal(config.http.port, 9443);
  assert.equal(config.http.host, '0.0.0.0', 'keys not overridden keep the file value');
  assert.equal(config.http.keepAliveTimeoutMs, 5000);
  assert.equal(config.dataDir, '/tmp/x');
  assert.equal(config.rootKey.file, '/tmp/x/root.key');
  assert.equal(config.rootKey.allowFile, true);
  assert.equal(config.rootKey.provider, 'auto');
  assert.equal(config.rootKey.piOtp.program, false);
  assert.equal(config.rootKey.tpm.tcti, 'device:/dev/tpm0');
  assert.equal(config.log.level, 'trace');
  assert.equal(config.applianceId, '12345');
  assert.deepEqual(
    [...overrides].sort(),
    ['applianceId', 'dataDir', 'http.keepAliveTimeoutMs', 'http.port', 'log.level', 'rootKey.allowFile', 'rootKey.file', 'rootKey.piOtp.program', 'rootKey.provider', 'rootKey.tpm.tcti'],
  );
});

test('environment overrides apply on top of the embedded default too', () => {
  const { config } = loadConfig({ env: { OUTPOST_HTTP__PORT: '0', OUTPOST_DATA_DIR: '/tmp/y' } });
  assert.equal(config.http.port, 0);
  assert.equal(config.http.host, '127.0.0.1');
  assert.equal(config.dataDir, '/tmp/y');
  assert.equal(config.rootKey.allowFile, true);
});

test('unknown or misspelt OUTPOST_ variables are refused, each named', () => {
  for (const name of ['OUTPOST_NOPE', 'OUTPOST_HTTP__PROT', 'OUTPOST_DATADIR', 'OUTPOST_HTTP_PORT', 'OUTPOST_http__port', 'OUTPOST_DATA_DIR__X', 'OUTPOST_', 'OUTPOST_ROOT_KEY__TPM__TCTI__X']) {
    const err = refusal(() => loadConfig({ env: { [name]: '1' } }));
    assert.match(err.message, new RegExp(`${name}: not a configuration key`), name);
    assert.ok(err.problems.length === 1, `${name}: ${err.message}`);
  }
  const err = refusal(() => loadConfig({ env: { OUTPOST_A: '1', OUTPOST_B: '2', OUTPOST_HTTP__PORT: '1' } }));
  assert.equal(err.problems.length, 2, 'every bad variable is reported at once');
});

test('refusals of file values name the key, the problem and the file', () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ http: { port: 70000 } }, 'http.port', /<=\s*65535/],
    [{ http: { port: -1 } }, 'http.port', />=\s*0/],
    [{ http: { port: 80.5 } }, 'http.port', /int/i],
    [{ http: { port: '8443' } }, 'http.port', /expected number, received string/],
    [{ dataDir: 5 }, 'dataDir', /expected string/],
    [{ dataDir: '' }, 'dataDir', /too small|>=1/i],
    [{ rootKey: { allowFile: 'yes' } }, 'rootKey.allowFile', /expected boolean/],
    [{ rootKey: { provider: 'hsm' } }, 'rootKey.provider', /expected one of/],
    [{ log: { level: 'loud' } }, 'log.level', /expected one of/],
    [{ applianceId: 'has space' }, 'applianceId', /letters, digits/],
    [{ http: 'fast' }, 'http', /expected object/],
    [{ vault: { mapSize: 10 } }, 'vault.mapSize', />=/],
    // The schema is strict: unknown keys are errors, with their full path.
    [{ colour: 'blue' }, 'colour', /not a configuration key/],
    [{ http: { prot: 1 } }, 'http.prot', /not a configuration key/],
    [{ rootKey: { tpm: { tcti: 'x', extra: true } } }, 'rootKey.tpm.extra', /not a configuration key/],
  ];
  for (const [content, key, problem] of cases) {
    const file = configFile(content);
    const err = refusal(() => loadConfig({ file, env: {} }));
    const line = err.problems.find((p) => p.startsWith(`${key}: `));
    assert.ok(line, `${JSON.stringify(content)}: no problem names ${key}: ${err.message}`);
    assert.match(line, problem, line);
    assert.ok(line.includes(`(from ${file})`), `${line} does not name the file`);
    assert.ok(err.message.includes(line));
  }
});

test('refusals of environment values name the key, the problem and the variable with its value', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['OUTPOST_HTTP__PORT', '70000', 'http.port', /<=\s*65535/],
    ['OUTPOST_HTTP__PORT', 'eighty', 'http.port', /expected number/],
    ['OUTPOST_HTTP__PORT', '', 'http.port', /expected number/],
    ['OUTPOST_ROOT_KEY__ALLOW_FILE', 'yes', 'rootKey.allowFile', /expected boolean/],
    ['OUTPOST_ROOT_KEY__PROVIDER', 'hsm', 'rootKey.provider', /expected one of/],
    ['OUTPOST_LOG__LEVEL', 'loud', 'log.level', /expected one of/],
    ['OUTPOST_VAULT__ROTATION_BATCH', '0', 'vault.rotationBatch', />=\s*1/],
    ['OUTPOST_APPLIANCE_ID', 'a/b', 'applianceId', /letters, digits/],
    ['OUTPOST_HTTP', '{"port":-1}', 'http.port', />=\s*0/],
  ];
  for (const withFile of [false, true]) {
    const file = withFile ? configFile({ http: { port: 1 } }) : undefined;
    for (const [name, value, key, problem] of cases) {
      const err = refusal(() => loadConfig({ file, env: { [name]: value } }));
      const line = err.problems.find((p) => p.startsWith(`${key}: `));
      assert.ok(line, `${name}=${value}: no problem names ${key}: ${err.message}`);
      assert.match(line, problem, line);
      assert.ok(line.includes(`${name}=${JSON.stringify(value)}`), `${line} does not name ${name} and its value`);
      if (file) assert.ok(!line.includes(file), `${line} blames the file for an environment value`);
    }
  }
});

test('a file value of the wrong type is reported even when a variable overrides a key under it', () => {
  const file = configFile({ http: 'fast' });
  const err = refusal(() => loadConfig({ file, env: { OUTPOST_HTTP__PORT: '9443' } }));
  assert.ok(err.problems.some((p) => p.startsWith('http: ') && p.includes(file)), err.message);
});

test('unreadable, malformed and non-object files are refused naming the file', () => {
  const missing = join(dir.path, 'absent.json');
  assert.match(refusal(() => loadConfig({ file: missing, env: {} })).message, new RegExp(`${missing}.*ENOENT`));
  assert.match(refusal(() => loadConfig({ file: dir.path, env: {} })).message, new RegExp(`${dir.path}.*EISDIR`));
  for (const text of ['{"http": {', '', 'port: 8443', '{"a":1,}', '\u0000\u0001']) {
    const file = configFile(text);
    assert.match(refusal(() => loadConfig({ file, env: {} })).message, new RegExp(`${file} is not valid JSON`), JSON.stringify(text));
  }
  for (const text of ['[]', '[{"http":{}}]', '42', '"text"', 'null', 'true']) {
    const file = configFile(text);
    assert.match(refusal(() => loadConfig({ file, env: {} })).message, new RegExp(`${file} must hold a JSON object`), text);
  }
  const viaEnv = configFile('nope');
  assert.match(refusal(() => loadConfig({ env: { OUTPOST_CONFIG: viaEnv } })).message, new RegExp(viaEnv));
});

// Real keys with arbitrary values, plus arbitrary keys, so the property reaches both the
// schema's checks and its strictness.
const KEYS = {
  dataDir: null,
  runDir: null,
  applianceId: null,
  http: { host: null, port: null, tls: { certFile: null, keyFile: null }, bodyLimit: null, keepAliveTimeoutMs: null, requestTimeoutMs: null },
  rootKey: { provider: null, allowFile: null, file: null, tpm: { tcti: null }, piOtp: { vcmailbox: null, device: null, program: null } },
  vault: { rotationBatch: null, mapSize: null },
  log: { level: null },
} as const;

type Shape = { readonly [key: string]: Shape | null };

function leafValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.integer({ min: -1, max: 70000 }),
    fc.constantFrom('auto', 'tpm', 'file', 'pi-otp', 'trace', 'info', '/tmp/x', 'a-b_c.1', '', true, false, 0, 65535, 1 << 20),
  );
}

function objectFor(shape: Shape, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const known: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, sub] of Object.entries(shape)) known[key] = sub ? fc.oneof(objectFor(sub, depth + 1), leafValue()) : leafValue();
  return fc
    .tuple(fc.record(known, { requiredKeys: [] }), fc.dictionary(fc.string({ maxLength: 8 }), leafValue(), { maxKeys: depth === 0 ? 2 : 1 }), fc.boolean())
    .map(([a, b, withExtra]) => (withExtra ? { ...b, ...a } : a));
}

function envNames(shape: Shape, prefix: string[] = []): string[] {
  const names: string[] = [];
  for (const [key, sub] of Object.entries(shape)) {
    const path = [...prefix, key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()];
    names.push(`OUTPOST_${path.join('__')}`);
    if (sub) names.push(...envNames(sub, path));
  }
  return names;
}

const envName = fc.oneof(
  fc.constantFrom(...envNames(KEYS as Shape)),
  fc.string({ maxLength: 12 }).map((s) => `OUTPOST_${s}`),
  fc.stringMatching(/^[A-Z_]{0,20}$/).map((s) => `OUTPOST_${s}`),
);
const envRaw = fc.oneof(fc.string({ maxLength: 20 }), fc.json({ maxDepth: 2 }), fc.constantFrom('true', 'false', '8443', '70000', '-1', 'null', '{}', '[]', 'trace'));

test('property: any file object and OUTPOST_* environment yields a valid config or a ConfigError', () => {
  let valid = 0;
  let refused = 0;
  fc.assert(
    fc.property(objectFor(KEYS as Shape), fc.dictionary(envName, envRaw, { maxKeys: 4 }), fc.boolean(), (content, env, useFile) => {
      const file = useFile ? configFile(content) : undefined;
      try {
        const { config } = loadConfig({ file, env });
        assert.ok(configSchema.safeParse(config).success);
        valid++;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        assert.ok(err.problems.length > 0);
        // Every problem says where it came from.
        for (const p of err.problems) assert.match(p, /\(from |from the environment|JSON|configuration file/, p);
        refused++;
      }
    }),
    { numRuns: 400 },
  );
  assert.ok(valid > 0 && refused > 0, `the property should see both outcomes (valid ${valid}, refused ${refused})`);
});

test('property: any JSON text as the file yields a valid config or a ConfigError', () => {
  fc.assert(
    fc.property(fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 40 })), (text) => {
      const file = configFile(text);
      try {
        loadConfig({ file, env: {} });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
      }
    }),
    { numRuns: 200 },
  );
});
