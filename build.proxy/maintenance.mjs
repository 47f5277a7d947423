// What the proxy answers while the hub is down (a config reload replaces the hub
// container: a few seconds). configurable-http-proxy sends a failed request to its
// error target, the hub's own error pages; with the hub down that fails too, and
// CHP's last resort is a bare "Service Unavailable". Here that last resort, for
// 503s on HTTP requests, becomes: a page for browsers that says the hub is
// restarting and reloads the same address by itself, JSON for API clients, both
// with Retry-After. Loaded by `node --import` before CHP's own entry point.
import fs from "node:fs";
import ConfigurableProxy from "./node_modules/configurable-http-proxy/lib/configproxy.js";

const RETRY_AFTER_SECONDS = "3";
const page = fs
  .readFileSync(new URL("./maintenance.html", import.meta.url), "utf8")
  .replaceAll("{{RETRY_AFTER_SECONDS}}", RETRY_AFTER_SECONDS);
const apiAnswer = JSON.stringify({
  status: 503,
  message: `JupyterHub is restarting. Retry after ${RETRY_AFTER_SECONDS} seconds.`,
});
const lastResort = ConfigurableProxy.prototype._handleProxyErrorDefault;

ConfigurableProxy.prototype._handleProxyErrorDefault = function (code, kind, req, res) {
  if (code !== 503 || kind === "ws" || res.headersSent || res.writableEnded) {
    return lastResort.call(this, code, kind, req, res);
  }
  const browser = (req.headers.accept || "").includes("text/html");
  res.writeHead(503, {
    "Content-Type": browser ? "text/html; charset=utf-8" : "application/json",
    "Retry-After": RETRY_AFTER_SECONDS,
    "Cache-Control": "no-store",
  });
  res.end(browser ? page : apiAnswer);
};
