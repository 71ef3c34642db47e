import { LuaScript } from "../../redis/lua-script.js";

const FOLDER = new URL("./scripts/", import.meta.url);

/** The backend's scripts (./scripts/, with the KEYS count in each name), read once per process. */
export const SCRIPTS = {
  store: new LuaScript(FOLDER, "store-results-3+"),
  finish: new LuaScript(FOLDER, "finish-5+"),
  setHeld: new LuaScript(FOLDER, "set-held-4"),
  forget: new LuaScript(FOLDER, "forget-result-5"),
  trim: new LuaScript(FOLDER, "trim-index-3"),
  compact: new LuaScript(FOLDER, "compact-tombstones-3"),
  read: new LuaScript(FOLDER, "read-result-5"),
  swapTombstones: new LuaScript(FOLDER, "swap-tombstones-3"),
  scanIndex: new LuaScript(FOLDER, "scan-index-1"),
  remove: new LuaScript(FOLDER, "remove-results-4+"),
  markArchived: new LuaScript(FOLDER, "mark-archived-3+"),
  put: new LuaScript(FOLDER, "put-result-4"),
  readUnindexed: new LuaScript(FOLDER, "read-unindexed-2+"),
  claimTicks: new LuaScript(FOLDER, "claim-ticks-3+"),
  markFireSent: new LuaScript(FOLDER, "mark-fire-sent-3"),
  addSample: new LuaScript(FOLDER, "add-sample-2"),
  chordPartReturn: new LuaScript(FOLDER, "chord-part-return-3"),
};
