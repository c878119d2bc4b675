// The appliance id salts the KEK and names the appliance upstream: configured, else the
// board serial from the device tree or /proc/cpuinfo, else a random id made once at init.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/index.ts';

async function boardSerial(): Promise<string | undefined> {
  const dt = await readFile('/sys/firmware/devicetree/base/serial-number', 'utf8').catch(() => '');
  const fromDt = dt.replace(/\0/g, '').trim();
  if (/^[0-9a-fA-F]{8,32}$/.test(fromDt) && !/^0+$/.test(fromDt)) return fromDt.toLowerCase();
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const match = /^Serial\s*:\s*([0-9a-fA-F]{8,32})\s*$/m.exec(cpuinfo);
  if (match && !/^0+$/.test(match[1])) return match[1].toLowerCase();
  return undefined;
}

export async function applianceIdFor(config: Config): Promise<string> {
  return config.applianceId ?? (await boardSerial()) ?? `outpost-${randomBytes(8).toString('hex')}`;
}
