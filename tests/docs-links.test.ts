import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The documents stand on their own: every relative link resolves to a file of the repository,
// and none refers to a file outside it.
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', 'release', 'test-results', 'scratch', '.git', 'out', 'coverage']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const path = join(dir, e.name);
    if (e.isDirectory()) return markdownFiles(path);
    return e.name.endsWith('.md') ? [path] : [];
  });
}

/** Link targets of a markdown text: inline links and images, reference definitions, HTML href/src. */
function linkTargets(text: string): string[] {
  const withoutCode = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  const targets: string[] = [];
  for (const m of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
  for (const m of withoutCode.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) targets.push(m[1]!);
  for (const m of withoutCode.matchAll(/\b(?:href|src)="([^"]+)"/g)) targets.push(m[1]!);
  return targets;
}

describe('documentation links', () => {
  const files = markdownFiles(ROOT);

  it('finds the documents', () => {
    const names = files.map((f) => relative(ROOT, f));
    expect(names).toContain('README.md');
    expect(names).toContain(join('docs', 'architecture.md'));
  });

  it('reads inline, reference and HTML links, not code', () => {
    expect(linkTargets('see [a](docs/a.md#x), ![i](img.png "t"), `[no](code.md)`\n[r]: ../b.md\n<a href="c.md">c</a>')).toEqual(['docs/a.md#x', 'img.png', '../b.md', 'c.md']);
  });

  it('every relative link resolves inside the repository', () => {
    const broken: string[] = [];
    for (const file of files) {
      for (const target of linkTargets(readFileSync(file, 'utf8'))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
        const path = decodeURIComponent(target.split('#')[0]!.split('?')[0]!);
        const resolved = resolve(dirname(file), path);
        if (resolved !== ROOT.replace(/[\\/]$/, '') && !resolved.startsWith(ROOT)) broken.push(`${relative(ROOT, file)}: ${target} (outside the repository)`);
        else if (!existsSync(resolved)) broken.push(`${relative(ROOT, file)}: ${target} (missing)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('no document refers to a design note outside the repository', () => {
    const outside = files.filter((f) => /DESIGN\.md|DESIGN §|\.\.\/shared\//.test(readFileSync(f, 'utf8'))).map((f) => relative(ROOT, f).split(sep).join('/'));
    expect(outside).toEqual([]);
  });
});
