// Writes test/snapshots/logical-ids.json from the current code. The committed file is the
// baseline of deployed stacks (taken before service.ts was split): regenerate it only for a
// release that documents every replaced resource.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { currentLogicalIds } from '../variants';

fs.writeFileSync(path.join(__dirname, 'logical-ids.json'), `${JSON.stringify(currentLogicalIds(), null, 2)}\n`);
