/**
 * Reading Bicep files for the infra tests, with no Bicep CLI: tree-sitter-bicep (WebAssembly) parses
 * them, and these helpers find declarations, resources and properties by walking the syntax tree.
 * A check written against the tree cannot be fooled by a comment, a string or a formatting change
 * the way a regular expression over the text can.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

export const REPO_ROOT = join(__dirname, '..', '..');
export const INFRA_DIR = join(REPO_ROOT, 'infra');

/**
 * Statements newer than the grammar (tree-sitter-bicep 1.1), blanked out before parsing. Each entry
 * matches exactly one statement form on its own line, and is replaced by as many spaces, so every
 * other position in the file stays where it was. Tests assert which statements each file had
 * blanked, so nothing else can hide here.
 */
const GRAMMAR_GAPS: readonly { readonly why: string; readonly statement: RegExp }[] = [
  {
    // `extension <alias>` or `extension '<registry reference>'` (Bicep 0.30+, replaced `provider`,
    // which the grammar knows). It only loads the extension's types: nothing else in the file
    // depends on it syntactically.
    why: 'the grammar predates the `extension` keyword',
    statement: /^extension[ \t]+(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\n]*')(?:[ \t]+as[ \t]+[A-Za-z_][A-Za-z0-9_]*)?[ \t]*$/gm,
  },
];

export interface BicepFile {
  /** Path relative to the repository root, with forward slashes. */
  readonly path: string;
  readonly text: string;
  readonly root: Node;
  /** Statements blanked out before parsing (see GRAMMAR_GAPS), trimmed. */
  readonly blanked: readonly string[];
}

let parserReady: Promise<Parser> | undefined;

function parser(): Promise<Parser> {
  parserReady ??= (async () => {
    await Parser.init();
    // Bytes, not a path: given a path, web-tree-sitter reads it through a dynamic import('fs'),
    // which jest's CommonJS runtime refuses.
    const language = await Language.load(readFileSync(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm')));
    return new Parser().setLanguage(language);
  })();
  return parserReady;
}

export async function parseBicep(absolutePath: string): Promise<BicepFile> {
  const original = readFileSync(absolutePath, 'utf8');
  const blanked: string[] = [];
  let text = original;
  for (const gap of GRAMMAR_GAPS) {
    text = text.replace(gap.statement, (statement) => {
      blanked.push(statement.trim());
      return ' '.repeat(statement.length);
    });
  }
  const tree = (await parser()).parse(text);
  if (tree === null) throw new Error(`tree-sitter returned no tree for ${absolutePath}`);
  return { path: relative(REPO_ROOT, absolutePath).split('\\').join('/'), text: original, root: tree.rootNode, blanked };
}

/** Every .bicep file under a directory, sorted. */
export function bicepFilesUnder(dir: string = INFRA_DIR): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...bicepFilesUnder(path));
    else if (entry.name.endsWith('.bicep')) found.push(path);
  }
  return found.sort();
}

let allFiles: Promise<Map<string, BicepFile>> | undefined;

/** Every infra .bicep file, parsed once per test file, by path relative to the repository root. */
export function infraFiles(): Promise<Map<string, BicepFile>> {
  allFiles ??= Promise.all(bicepFilesUnder().map(parseBicep)).then((files) => new Map(files.map((f) => [f.path, f])));
  return allFiles;
}

export async function infraFile(path: string): Promise<BicepFile> {
  const file = (await infraFiles()).get(path);
  if (file === undefined) throw new Error(`${path} is missing`);
  return file;
}

/** ERROR and MISSING nodes, as `line:column: text` (1-based). */
export function syntaxProblems(file: BicepFile): string[] {
  const problems: string[] = [];
  const visit = (node: Node): void => {
    if (node.isError || node.isMissing) {
      const { row, column } = node.startPosition;
      problems.push(`${file.path}:${row + 1}:${column + 1}: ${node.isMissing ? `missing ${node.type}` : 'syntax error'} near "${node.text.slice(0, 60)}"`);
    }
    for (const child of node.children) visit(child);
  };
  visit(file.root);
  return problems;
}

export function where(file: BicepFile, node: Node): string {
  return `${file.path}:${node.startPosition.row + 1}`;
}

// --- Nodes ---

/** Named children, without comments. */
export function named(node: Node): Node[] {
  return node.namedChildren.filter((child) => !child.isExtra);
}

function firstOfType(node: Node, type: string): Node | undefined {
  return named(node).find((child) => child.type === type);
}

/** The value of a string literal with no interpolation; undefined for anything else. */
export function stringValue(node: Node | undefined): string | undefined {
  if (node?.type !== 'string' || named(node).some((child) => child.type === 'interpolation')) return undefined;
  const text = node.text;
  if (text.startsWith("'''")) return text.slice(3, -3);
  return text.slice(1, -1).replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
}

export type Literal = string | number | boolean | null;

/** A literal (string without interpolation, number, boolean, null), or undefined. */
export function literal(node: Node | undefined): Literal | undefined {
  if (node === undefined) return undefined;
  switch (node.type) {
    case 'string':
      return stringValue(node);
    case 'number':
      return Number(node.text);
    case 'boolean':
      return node.text === 'true';
    case 'null':
      return null;
    default:
      return undefined;
  }
}

/** Key of an object property: an identifier or a string without interpolation. */
function propertyKey(property: Node): string | undefined {
  const key = named(property)[0];
  if (key === undefined) return undefined;
  return key.type === 'string' ? stringValue(key) : key.text;
}

export interface Property {
  readonly key: string;
  readonly value: Node;
  readonly node: Node;
}

/** The properties of an object literal, in order; nested resource declarations are left out. */
export function properties(object: Node | undefined): Property[] {
  if (object?.type !== 'object') return [];
  const found: Property[] = [];
  for (const property of named(object)) {
    if (property.type !== 'object_property') continue;
    const parts = named(property);
    if (parts[0]?.type === 'resource_declaration') continue;
    const key = propertyKey(property);
    const value = parts[1];
    if (key === undefined || value === undefined) throw new Error(`cannot read the object property "${property.text.slice(0, 60)}"`);
    found.push({ key, value, node: property });
  }
  return found;
}

/** The value at a dotted path of object keys, such as 'properties.siteConfig.minTlsVersion'. */
export function get(object: Node | undefined, path: string): Node | undefined {
  let current = object;
  for (const key of path.split('.')) {
    current = properties(current).find((p) => p.key === key)?.value;
    if (current === undefined) return undefined;
  }
  return current;
}

/** Identifiers an expression refers to (not property names after a dot, not object keys). */
export function referencedIdentifiers(node: Node): string[] {
  const found: string[] = [];
  const visit = (n: Node): void => {
    if (n.type === 'identifier') {
      const parent = n.parent;
      const isObjectKey = parent?.type === 'object_property' && parent.namedChildren[0]?.equals(n) === true;
      if (!isObjectKey) found.push(n.text);
    }
    for (const child of named(n)) visit(child);
  };
  visit(node);
  return found;
}

/** Calls in an expression (including itself), as { name, args }. */
export function calls(node: Node): { name: string; args: Node[]; node: Node }[] {
  const found: { name: string; args: Node[]; node: Node }[] = [];
  const visit = (n: Node): void => {
    if (n.type === 'call_expression') {
      const fn = n.childForFieldName('function');
      const args = n.childForFieldName('arguments');
      found.push({ name: fn?.text ?? '', args: args ? named(args) : [], node: n });
    }
    for (const child of named(n)) visit(child);
  };
  visit(node);
  return found;
}

/** The call this node is, if it is a call of `name`. */
export function callOf(node: Node | undefined, name: string): Node[] | undefined {
  if (node?.type !== 'call_expression' || node.childForFieldName('function')?.text !== name) return undefined;
  const args = node.childForFieldName('arguments');
  return args ? named(args) : [];
}

// --- Declarations ---

function declarations(file: BicepFile, type: string): Node[] {
  return named(file.root).filter((node) => node.type === type);
}

/** Names of the decorators right before a top-level declaration, such as ['secure', 'description']. */
export function decoratorsOf(declaration: Node): string[] {
  let previous = declaration.previousNamedSibling;
  while (previous?.isExtra) previous = previous.previousNamedSibling;
  if (previous?.type !== 'decorators') return [];
  return named(previous).map((decorator) => firstOfType(decorator, 'call_expression')?.childForFieldName('function')?.text ?? '');
}

export interface Param {
  readonly name: string;
  readonly type: string;
  readonly defaultValue: Node | undefined;
  readonly secure: boolean;
  readonly node: Node;
}

export function params(file: BicepFile): Map<string, Param> {
  const found = new Map<string, Param>();
  for (const node of declarations(file, 'parameter_declaration')) {
    const [name, type, defaultValue] = named(node);
    if (name === undefined || type === undefined) throw new Error(`unreadable param at ${where(file, node)}`);
    const typeText = type.text;
    const secure = decoratorsOf(node).includes('secure') || typeText === 'secureString' || typeText === 'secureObject';
    found.set(name.text, { name: name.text, type: typeText, defaultValue, secure, node });
  }
  return found;
}

export function vars(file: BicepFile): Map<string, Node> {
  const found = new Map<string, Node>();
  for (const node of declarations(file, 'variable_declaration')) {
    const [name, value] = named(node);
    if (name !== undefined && value !== undefined) found.set(name.text, value);
  }
  return found;
}

export function outputs(file: BicepFile): Map<string, { value: Node; node: Node }> {
  const found = new Map<string, { value: Node; node: Node }>();
  for (const node of declarations(file, 'output_declaration')) {
    const parts = named(node);
    const name = parts[0];
    const value = parts[parts.length - 1];
    if (name !== undefined && value !== undefined) found.set(name.text, { value, node });
  }
  return found;
}

export interface ModuleCall {
  readonly symbol: string;
  /** The module's path as written, such as 'modules/storage.bicep'. */
  readonly path: string;
  readonly body: Node;
  /** The `params` object, by parameter name. */
  readonly args: Map<string, Node>;
}

export function modules(file: BicepFile): ModuleCall[] {
  return declarations(file, 'module_declaration').map((node) => {
    const [symbol, path, value] = named(node);
    const body = value === undefined ? undefined : bodyOf(value).body;
    if (symbol === undefined || body === undefined) throw new Error(`unreadable module at ${where(file, node)}`);
    const args = new Map(properties(get(body, 'params')).map((p) => [p.key, p.value] as const));
    return { symbol: symbol.text, path: stringValue(path) ?? '', body, args };
  });
}

// --- Resources ---

export interface Resource {
  readonly symbol: string;
  /** Full type without the API version, such as 'Microsoft.Web/sites/config' for a nested 'config'. */
  readonly type: string;
  readonly apiVersion: string;
  readonly existing: boolean;
  /** The condition of `= if (...) {`, if any. */
  readonly condition: Node | undefined;
  readonly loop: boolean;
  readonly body: Node;
  readonly node: Node;
  readonly parent: Resource | undefined;
}

/** The object of a resource or module value: `{...}`, `if (c) {...}`, `[for ...: {...}]`. */
function bodyOf(value: Node): { body: Node | undefined; condition: Node | undefined; loop: boolean } {
  if (value.type === 'object') return { body: value, condition: undefined, loop: false };
  if (value.type === 'if_statement') {
    return { body: firstOfType(value, 'object'), condition: firstOfType(value, 'parenthesized_expression'), loop: false };
  }
  if (value.type === 'for_statement') {
    const inner = value.childForFieldName('body');
    return inner === null ? { body: undefined, condition: undefined, loop: true } : { ...bodyOf(inner), loop: true };
  }
  return { body: undefined, condition: undefined, loop: false };
}

/** Every resource of a file, nested ones included (with their full type). */
export function resources(file: BicepFile): Resource[] {
  const found: Resource[] = [];
  const read = (node: Node, parent: Resource | undefined): void => {
    const parts = named(node);
    const [symbol, typeString] = parts;
    const value = parts[parts.length - 1];
    const typeText = stringValue(typeString);
    if (symbol === undefined || typeText === undefined || value === undefined) throw new Error(`unreadable resource at ${where(file, node)}`);
    const { body, condition, loop } = bodyOf(value);
    if (body === undefined) throw new Error(`resource ${symbol.text} has no body at ${where(file, node)}`);
    const [relativeType = '', version] = typeText.split('@');
    const resource: Resource = {
      symbol: symbol.text,
      type: parent === undefined ? relativeType : `${parent.type}/${relativeType}`,
      apiVersion: version ?? parent?.apiVersion ?? '',
      existing: node.children.some((child) => child.type === 'existing'),
      condition,
      loop,
      body,
      node,
      parent,
    };
    found.push(resource);
    for (const property of named(body)) {
      const nested = property.type === 'object_property' ? named(property)[0] : undefined;
      if (nested?.type === 'resource_declaration') read(nested, resource);
    }
  };
  for (const node of declarations(file, 'resource_declaration')) read(node, undefined);
  return found;
}

export function resourcesOfType(file: BicepFile, type: string): Resource[] {
  return resources(file).filter((r) => r.type.toLowerCase() === type.toLowerCase());
}

// --- Following values across declarations ---

/**
 * A value as far as it can be known without deploying: literals, `string(...)` of a literal,
 * and variables and parameters with literal defaults, followed through module parameters into the
 * file that calls the module. Undefined when it depends on anything computed at deployment.
 */
export function resolveLiteral(file: BicepFile, node: Node, caller?: { file: BicepFile; args: Map<string, Node> }): Literal | undefined {
  const value = literal(node);
  if (value !== undefined) return value;
  const stringArgs = callOf(node, 'string');
  if (stringArgs?.length === 1 && stringArgs[0] !== undefined) {
    const inner = resolveLiteral(file, stringArgs[0], caller);
    return inner === undefined ? undefined : String(inner);
  }
  if (node.type === 'identifier') {
    const param = params(file).get(node.text);
    if (param !== undefined) {
      const argument = caller?.args.get(param.name);
      if (argument !== undefined && caller !== undefined) return resolveLiteral(caller.file, argument);
      return param.defaultValue === undefined ? undefined : resolveLiteral(file, param.defaultValue);
    }
    const variable = vars(file).get(node.text);
    if (variable !== undefined) return resolveLiteral(file, variable, caller);
  }
  return undefined;
}

/** The arguments of one decorator, such as `@minValue(40)`, on a top-level declaration; undefined if absent. */
export function decoratorArgs(declaration: Node, name: string): Node[] | undefined {
  let previous = declaration.previousNamedSibling;
  while (previous?.isExtra) previous = previous.previousNamedSibling;
  if (previous?.type !== 'decorators') return undefined;
  for (const decorator of named(previous)) {
    const args = callOf(firstOfType(decorator, 'call_expression'), name);
    if (args !== undefined) return args;
  }
  return undefined;
}
