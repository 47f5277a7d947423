// Name lookups while the hub is down. A config reload replaces the hub container,
// and for those seconds its name does not resolve: Docker's embedded DNS passes the
// question on to the host's resolvers. Every proxied request asks twice (the hub
// route, then the hub's error page), each lookup holds one of libuv's four threads,
// and under load some answers come late: measured with 10 clients, every request
// waited ~5 s for the restart page. Here lookups of one name made at once share one
// query, and a name that did not resolve is answered from memory for a second
// (resolvers cache such answers too). Names that resolve are never cached: the new
// hub has a new address. Loaded by `node --import` before CHP's own entry point.
import dns from "node:dns";

const NOT_FOUND_TTL_MS = 1000;
const NOT_FOUND_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "ENODATA"]);
const systemLookup = dns.lookup;
const waiting = new Map(); // query key -> callbacks waiting for its answer
const notFound = new Map(); // query key -> { error, until }

dns.lookup = function lookup(hostname, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  const key = JSON.stringify([hostname, typeof options === "number" ? { family: options } : options ?? {}]);
  const remembered = notFound.get(key);
  if (remembered && remembered.until > Date.now()) {
    process.nextTick(callback, remembered.error);
    return;
  }
  if (waiting.has(key)) {
    waiting.get(key).push(callback);
    return;
  }
  waiting.set(key, [callback]);
  systemLookup.call(dns, hostname, options, (error, ...answer) => {
    const callbacks = waiting.get(key);
    waiting.delete(key);
    if (error && NOT_FOUND_CODES.has(error.code)) {
      notFound.set(key, { error, until: Date.now() + NOT_FOUND_TTL_MS });
    } else {
      notFound.delete(key);
    }
    for (const waiter of callbacks) waiter(error, ...answer);
  });
};
