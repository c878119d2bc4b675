// A summary of a V8 CPU profile (node --cpu-prof) for the benchmarks: self time by function,
// and by owner — the innermost Outpost function on the sample's stack, else the library.
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }>;
  startTime: number;
  endTime: number;
}

type ProfileNode = CpuProfile['nodes'][number];

/** Where a sample's time goes: the innermost Outpost function on its stack, else the library it is in. */
function owner(stack: ProfileNode[]): string {
  for (const n of stack) {
    const url = n.callFrame.url;
    if (url.includes('/src/') && !url.includes('node_modules')) return `${n.callFrame.functionName || '(anonymous)'} ${url.slice(url.indexOf('/src/') + 1)}`;
  }
  const leaf = stack[0]!.callFrame;
  if (leaf.url === '') return leaf.functionName.startsWith('(') ? leaf.functionName : `(native) ${leaf.functionName}`;
  const lib = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(leaf.url)?.[1];
  if (lib) return `[${lib}]`;
  if (/tls|crypto/.test(leaf.url)) return '[node tls/crypto]';
  if (/http|net|stream|undici|url|abort|event/.test(leaf.url)) return '[node http/net/streams]';
  return `[node other] ${leaf.url}`;
}

/** Self time by function, and by owner: the innermost Outpost function on the stack, or the library. */
export function printProfile(p: CpuProfile, repo: string): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total = p.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0);
  const idle = p.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((n, x) => n + (x.hitCount ?? 0), 0);
  const busy = total - idle;
  const self = new Map<string, number>();
  const owners = new Map<string, number>();
  for (const n of p.nodes) {
    if (!n.hitCount || n.callFrame.functionName === '(idle)') continue;
    const f = n.callFrame;
    const file = f.url.replace(/^file:\/\//, '').replace(`${repo}/`, '');
    const name = `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
    self.set(name, (self.get(name) ?? 0) + n.hitCount);
    const stack: ProfileNode[] = [];
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) stack.push(byId.get(id)!);
    const who = owner(stack);
    owners.set(who, (owners.get(who) ?? 0) + n.hitCount);
  }
  const share = (hits: number) => `${((hits / busy) * 100).toFixed(1).padStart(5)} %`;
  console.log(`\nCPU profile of the service's main thread: ${total} samples over ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s, ${((idle / total) * 100).toFixed(0)} % idle; shares below are of the busy samples`);
  console.log('by owner (the innermost Outpost function on the stack, else the library):');
  for (const [name, hits] of [...owners].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${share(hits)}  ${name}`);
  console.log('top self time:');
  for (const [name, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${share(hits)}  ${name}`);
}
