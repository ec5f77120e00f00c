// The certificate: one JSON object and its HTML page. Shared by the k6 script (handleSummary) and
// by scripts/certify.mjs (which adds the server-side figures), so both render alike.

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** @param {object} cert {scenario, target, date, peers, durationSeconds, passed, thresholds: [{metric, condition, ok}], client: {...}, server?: {...}} */
export function certificateHtml(cert) {
  const rows = (obj) =>
    Object.entries(obj || {})
      .map(([k, v]) => `<tr><th scope="row">${escape(k)}</th><td>${escape(typeof v === 'number' ? Number(v.toFixed(3)) : v)}</td></tr>`)
      .join('');
  const thresholds = cert.thresholds
    .map((t) => `<tr class="${t.ok ? 'ok' : 'bad'}"><td>${escape(t.metric)}</td><td><code>${escape(t.condition)}</code></td><td>${t.ok ? 'pass' : 'FAIL'}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>Studioline certificate: ${escape(cert.scenario)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}.ok td:last-child{color:#0a6b2b;font-weight:600}.bad td:last-child{color:#b00020;font-weight:700}
.verdict{font-size:1.4rem;font-weight:700;color:${cert.passed ? '#0a6b2b' : '#b00020'}}</style>
<h1>Studioline bandwidth certificate</h1>
<p class="verdict">${cert.passed ? 'PASSED' : 'FAILED'}: scenario “${escape(cert.scenario)}”</p>
<table><tr><th scope="row">target</th><td>${escape(cert.target)}</td></tr><tr><th scope="row">date</th><td>${escape(cert.date)}</td></tr>
<tr><th scope="row">peers</th><td>${cert.peers}</td></tr><tr><th scope="row">duration</th><td>${cert.durationSeconds} s</td></tr>
<tr><th scope="row">budget per peer</th><td>${cert.budgetBps} bit/s each way</td></tr></table>
<h2>Thresholds</h2><table><tr><th>metric</th><th>condition</th><th>result</th></tr>${thresholds}</table>
<h2>Measured by the peers (k6)</h2><table>${rows(cert.client)}</table>
${cert.server ? `<h2>Measured by the servers (/metrics, before and after)</h2><table>${rows(cert.server)}</table>` : ''}
</html>`;
}
