#!/usr/bin/env node
// The package ships TypeScript sources; tsx (a dependency) loads them.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
