// PLACEHOLDER until the PAM routes land.
import type { Hono } from 'hono';
import type { A2aEnv, A2aServices } from '../context.ts';

export function registerPam(_app: Hono<A2aEnv>, _s: A2aServices): void {}
