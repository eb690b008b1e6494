import assert from "node:assert/strict";
import { test } from "node:test";
import type { CellariumModel } from "../../src/models/model.js";
import { mergeHierarchically, treeRole } from "../../src/train/hierarchical-merge.js";

/** A model whose state is the list of merges it took part in, as "receiver<-sender" strings. */
function recorder(rank: number, log: string[]): CellariumModel {
  return {
    className: "Recorder",
    rank,
    merge: (other: { rank: number }) => log.push(`${rank}<-${other.rank}`),
  } as never;
}

test("mergeHierarchically: pairwise levels, the even position receiving from its odd neighbour", () => {
  const log: string[] = [];
  const models = Array.from({ length: 6 }, (_, r) => recorder(r, log));
  assert.equal(mergeHierarchically(models), models[0]);
  // Level 1 pairs (0,1) (2,3) (4,5); level 2 pairs (0,2), 4 has no partner; level 3 pairs (0,4).
  assert.deepEqual(log, ["0<-1", "2<-3", "4<-5", "0<-2", "0<-4"]);
});

test("treeRole: each rank's receives and send are the merges of mergeHierarchically", () => {
  for (const n of [1, 2, 3, 5, 8, 13]) {
    const log: string[] = [];
    mergeHierarchically(Array.from({ length: n }, (_, r) => recorder(r, log)));
    const fromRoles: string[] = [];
    for (let rank = 0; rank < n; rank++) {
      const { receivesFrom, sendsTo } = treeRole(rank, n);
      for (const from of receivesFrom) fromRoles.push(`${rank}<-${from}`);
      if (rank === 0) assert.equal(sendsTo, null);
      else assert.ok(log.includes(`${sendsTo}<-${rank}`), `n ${n}: rank ${rank} sends to ${sendsTo}`);
    }
    assert.deepEqual(fromRoles.sort(), [...log].sort(), `n ${n}`);
    assert.equal(log.length, n - 1);
  }
});
