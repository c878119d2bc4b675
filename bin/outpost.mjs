#!/usr/bin/env node
// The `outpost` command. TypeScript runs through tsx's loader, registered here so the
// command works from any directory and through `npx outpost`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
