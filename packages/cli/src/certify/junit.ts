/** The verdict as JUnit XML: one test case per threshold, so CI systems show what broke by name. */
import { Certificate } from './certificate.js';

const xml = (s: unknown) => String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);

export function certificateJunit(cert: Certificate): string {
  const seconds = Math.max(0, (Date.parse(cert.run.endedAt) - Date.parse(cert.run.startedAt)) / 1000);
  const cases = cert.thresholds
    .map(
      (t) =>
        `    <testcase classname="studioline.certify" name="${xml(t.name)}">\n` +
        (t.ok ? '' : `      <failure message="${xml(`${t.name}: ${t.measured} (limit: ${t.limit})`)}">${xml(t.measured)}</failure>\n`) +
        `      <system-out>${xml(`${t.limit}: ${t.measured}`)}</system-out>\n    </testcase>`,
    )
    .join('\n');
  const failures = cert.thresholds.filter((t) => !t.ok).length;
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="studioline certify" tests="${cert.thresholds.length}" failures="${failures}" time="${seconds}">
  <testsuite name="certificate ${xml(cert.run.target)}, ${cert.summary.peers} peers" tests="${cert.thresholds.length}" failures="${failures}" errors="0" time="${seconds}" timestamp="${xml(cert.run.startedAt)}">
${cases}
  </testsuite>
</testsuites>
`;
}
