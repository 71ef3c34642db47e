import { LuaScript } from "../../redis/lua-script.js";

const FOLDER = new URL("./scripts/", import.meta.url);

/** The broker's scripts (./scripts/, with the KEYS count in each name), read once per process. */
export const SCRIPTS = {
  fetch: new LuaScript(FOLDER, "fetch-5+"),
  settle: new LuaScript(FOLDER, "settle-4+"),
  extend: new LuaScript(FOLDER, "extend-1"),
  unlock: new LuaScript(FOLDER, "unlock-1"),
  publishOnce: new LuaScript(FOLDER, "publish-once-3"),
  putBack: new LuaScript(FOLDER, "put-back-2"),
  sweep: new LuaScript(FOLDER, "sweep-4"),
  forgetConsumer: new LuaScript(FOLDER, "forget-consumer-2+"),
  refreshMutex: new LuaScript(FOLDER, "refresh-mutex-1"),
} as const;
