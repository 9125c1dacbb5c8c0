/** Goal: the heap-growth switch has hysteresis, so a heap near the threshold does not flip V8's setting every check. */
import { expect, it } from 'vitest';
import { HEAP_GROWTH, tightGrowthWanted } from '../../../src/cli/heap-growth.js';

it('tightens above the threshold and loosens only below half of it', () => {
  const at = HEAP_GROWTH.tightAboveBytes;
  expect(tightGrowthWanted(false, at)).toBe(false);
  expect(tightGrowthWanted(false, at + 1)).toBe(true);
  expect(tightGrowthWanted(true, at * 0.75)).toBe(true);
  expect(tightGrowthWanted(true, at / 2 - 1)).toBe(false);
});
