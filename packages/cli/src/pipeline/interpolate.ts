/** Something `${...}` can name: a variable, a stage's folder, or a service's URL. */
export interface Scope {
  vars: Record<string, string>;
  /** Stage id → its output folder (only stages before the current one). */
  stageDirs: Record<string, string>;
  /** Service stage id → its base URL; resolved lazily (a service starts only when a stage that needs it runs). */
  serviceUrl?: (id: string) => string;
}

const REF = /\$\{([a-zA-Z_][\w-]*)(\.url)?\}/g;

/** The stage ids a list of words refers to (`${id}` or `${id.url}`), in first-seen order. */
export function referencedStages(words: string[], stageIds: Set<string>): string[] {
  const seen = new Set<string>();
  for (const w of words) for (const m of w.matchAll(REF)) if (stageIds.has(m[1]!)) seen.add(m[1]!);
  return [...seen];
}

/** Replace `${name}` / `${id.url}` in a word. Unknown names throw, naming the word. */
export function interpolate(word: string, scope: Scope): string {
  return word.replace(REF, (_all, name: string, url?: string) => {
    if (url) {
      if (!scope.serviceUrl) throw new ReferenceError(`\${${name}.url} used where no service is available`);
      return scope.serviceUrl(name);
    }
    if (name in scope.vars) return scope.vars[name]!;
    if (name in scope.stageDirs) return scope.stageDirs[name]!;
    throw new ReferenceError(`unknown \${${name}} in "${word}" (define it under vars, or name an earlier stage)`);
  });
}
