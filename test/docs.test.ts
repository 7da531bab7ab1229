/**
 * API docs gate: typedoc over the public entries (typedoc.json) reports no warnings or errors (undocumented
 * exports, referenced-but-unexported types, broken links), and every exported function and class carries an
 * `@example`. Converts and validates only; no HTML is emitted.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  Application,
  Logger,
  LogLevel,
  PackageJsonReader,
  ReflectionKind,
  TSConfigReader,
  TypeDocReader,
  type DeclarationReflection,
  type ProjectReflection,
  type Reflection,
} from 'typedoc';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Keeps every warning and error (TypeDoc's ConsoleLogger would only print them). */
class CollectingLogger extends Logger {
  readonly messages: string[] = [];
  override log(message: string, level: LogLevel): void {
    if (level >= LogLevel.Warn) this.messages.push(`[${LogLevel[level]}] ${message}`);
  }
}

async function convert(): Promise<{ project: ProjectReflection | undefined; messages: string[] }> {
  // Explicit readers: the default ones include ArgumentsReader, which would parse vitest's argv.
  const app = await Application.bootstrapWithPlugins({ options: `${ROOT}typedoc.json` }, [
    new TypeDocReader(),
    new PackageJsonReader(),
    new TSConfigReader(),
  ]);
  const logger = new CollectingLogger();
  const bootstrapProblems = app.logger.warningCount + app.logger.errorCount;
  app.logger = logger;
  const project = await app.convert();
  if (project) app.validate(project);
  const messages = [...logger.messages];
  if (bootstrapProblems > 0)
    messages.unshift(`${bootstrapProblems} warning(s)/error(s) while reading the options (printed above)`);
  return { project, messages };
}

function hasExample(reflection: DeclarationReflection): boolean {
  const comments = [reflection.comment, reflection.signatures?.[0]?.comment];
  return comments.some((c) => c?.blockTags.some((t) => t.tag === '@example') === true);
}

/** Every exported function and class of every entry, as `module.name`, lacking an `@example`. */
function missingExamples(project: ProjectReflection): string[] {
  const missing = new Set<string>();
  for (const r of project.getReflectionsByKind(ReflectionKind.Function | ReflectionKind.Class)) {
    const d = r as DeclarationReflection;
    if (!hasExample(d)) missing.add(qualifiedName(d));
  }
  return [...missing].sort();
}

function qualifiedName(r: Reflection): string {
  const parts: string[] = [];
  for (let at: Reflection | undefined = r; at && !at.isProject(); at = at.parent) parts.unshift(at.name);
  return parts.join('.');
}

describe('API docs (typedoc.json)', () => {
  let result: Awaited<ReturnType<typeof convert>> | undefined;
  const converted = async () => (result ??= await convert());

  it('converts and validates with no warnings or errors', async () => {
    const { project, messages } = await converted();
    expect(project, 'typedoc could not convert the entries').toBeDefined();
    expect(messages, `typedoc reported:\n${messages.join('\n')}`).toEqual([]);
  }, 120_000);

  it('documents every exported function and class with an @example', async () => {
    const { project } = await converted();
    if (!project) throw new Error('typedoc could not convert the entries');
    const all = project.getReflectionsByKind(ReflectionKind.Function | ReflectionKind.Class);
    expect(all.length).toBeGreaterThan(0);
    const missing = missingExamples(project);
    expect(missing, `exported functions/classes without an @example:\n${missing.join('\n')}`).toEqual([]);
  }, 120_000);
});
