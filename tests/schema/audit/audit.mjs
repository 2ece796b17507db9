// Runs the graphql-http audit suite (auditServer) against a Leadgate server and prints every
// result as one JSON line: {id, name, status, reason}. Usage: node audit.mjs URL TOKEN
import { auditServer } from 'graphql-http';

const [url, token] = process.argv.slice(2);
const results = await auditServer({
  url,
  fetchFn: (input, init = {}) =>
    fetch(input, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${token}` } }),
});
for (const r of results) {
  console.log(JSON.stringify({ id: r.id, name: r.name, status: r.status, reason: r.reason ?? null }));
}
