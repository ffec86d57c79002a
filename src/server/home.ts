/** The page at the handler's root: where the dashboard and the API are. `base` is the mount prefix ("" at the root). */
export function homePage(base = ""): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Outlast</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .25rem}</style>
</head>
<body>
<h1>Outlast is running</h1>
<p>The <a href="${base}/dashboard">dashboard</a> asks for the admin key. The HTTP API is here:</p>
<ul>
<li><a href="${base}/healthz"><code>GET ${base}/healthz</code></a> and <a href="${base}/readyz"><code>GET ${base}/readyz</code></a></li>
<li><code>POST ${base}/api/v1/tasks</code> — submit, e.g. <code>{"name":"demo.count","input":{"to":20}}</code></li>
<li><code>GET ${base}/api/v1/tasks/:id/events</code> — watch one task live (Server-Sent Events)</li>
<li><code>GET ${base}/api/v1/events</code> — watch all of your tasks on one connection</li>
</ul>
<p>Authenticate with <code>Authorization: Bearer KEY</code> (the admin key is printed when the server starts), or get a browser session with <code>POST ${base}/api/v1/session</code>.</p>
</body>
</html>
`;
}
