// A request path as express routes it, for the audit: case, repeated or trailing slashes and percent-escapes do not change what it names, and malformed input never throws.

/** `decodeURIComponent`, except that a malformed escape (`%ZZ`, a cut UTF-8 sequence) stays as it was instead of throwing URIError. */
export function decodePathSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    // Deliberate: the caller wants a readable label for any path, and the raw text is the honest one.
    return segment;
  }
}

/** The segments of a URL's path: empty ones (`//`, a trailing `/`) and `.` dropped, `..` applied, each decoded where it can be. */
export function pathSegments(url: string): string[] {
  const path = url.split(/[?#]/, 1)[0] ?? '';
  const segments: string[] = [];
  for (const raw of path.split('/')) {
    const segment = decodePathSegment(raw);
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return segments;
}
