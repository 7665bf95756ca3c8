// A small evaluator for the subset of Go templates / Helm that charts/herald uses, so the chart can
// be rendered and compared with `herald manifests` without a `helm` binary (none can be installed
// here). Supported: text with {{ }} actions and {{- -}} trimming, comments, define / include,
// if / else if / else, with / else, range over lists / else, variables ($x := ..., $), pipelines, parenthesized pipelines,
// string / raw string / number / bool literals, field chains on . and $vars, and the functions
// below. Anything else (range over maps or with variables, template, block, other functions) is a RenderError, never silently
// wrong: a template using it fails the test that renders it.
import yaml from 'js-yaml';

export class RenderError extends Error {
  override readonly name = 'RenderError';
}

type Value = unknown;

type Token =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'ident'; v: string }
  | { t: 'field'; v: string[] } // .A.B ([] for a bare dot)
  | { t: 'var'; v: string; fields: string[] } // $x.A ($ for the root)
  | { t: '(' }
  | { t: ')' }
  | { t: '|' }
  | { t: ':=' };

type Operand =
  | { k: 'lit'; v: Value }
  | { k: 'field'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'pipe'; pipe: Pipeline };
type Command = { fn?: string; args: Operand[] };
type Pipeline = { decl?: string; cmds: Command[] };

type Node =
  | { n: 'text'; v: string }
  | { n: 'action'; pipe: Pipeline }
  | { n: 'if'; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[] }
  | { n: 'with'; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { n: 'range'; pipe: Pipeline; body: Node[]; otherwise: Node[] };

interface RawPiece {
  kind: 'text' | 'action';
  text: string;
  trimLeft: boolean;
  trimRight: boolean;
}

/** Splits template text into text and action pieces, applying {{- and -}} trimming. */
function lex(src: string, file: string): RawPiece[] {
  const pieces: RawPiece[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      pieces.push({ kind: 'text', text: src.slice(i), trimLeft: false, trimRight: false });
      break;
    }
    pieces.push({ kind: 'text', text: src.slice(i, open), trimLeft: false, trimRight: false });
    let j = open + 2;
    const trimLeft = src.startsWith('- ', j) || src.startsWith('-\n', j);
    if (trimLeft) j += 1;
    // Find the closing }} outside string literals.
    let k = j;
    let close = -1;
    while (k < src.length) {
      const c = src[k];
      if (c === '"') {
        k++;
        while (k < src.length && src[k] !== '"') k += src[k] === '\\' ? 2 : 1;
        k++;
      } else if (c === '`') {
        k = src.indexOf('`', k + 1) + 1;
        if (k === 0) throw new RenderError(`${file}: unterminated raw string`);
      } else if (src.startsWith('/*', k)) {
        const end = src.indexOf('*/', k + 2);
        if (end < 0) throw new RenderError(`${file}: unterminated comment`);
        k = end + 2;
      } else if (src.startsWith('}}', k)) {
        close = k;
        break;
      } else k++;
    }
    if (close < 0) throw new RenderError(`${file}: unclosed action at offset ${open}`);
    let body = src.slice(j, close);
    const trimRight = /\s-$/.test(body);
    if (trimRight) body = body.slice(0, -1);
    pieces.push({ kind: 'action', text: body.trim(), trimLeft, trimRight });
    i = close + 2;
  }
  for (let p = 0; p < pieces.length; p++) {
    const piece = pieces[p];
    if (piece.kind !== 'action') continue;
    const prev = pieces[p - 1];
    const next = pieces[p + 1];
    if (piece.trimLeft && prev?.kind === 'text') prev.text = prev.text.replace(/\s+$/, '');
    if (piece.trimRight && next?.kind === 'text') next.text = next.text.replace(/^\s+/, '');
  }
  return pieces.filter((p) => p.kind === 'action' || p.text !== '');
}

function tokenize(s: string, where: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      out.push({ t: 'str', v: JSON.parse(s.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === '`') {
      const j = s.indexOf('`', i + 1);
      out.push({ t: 'str', v: s.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '(' || c === ')' || c === '|') {
      out.push({ t: c });
      i++;
    } else if (s.startsWith(':=', i)) {
      out.push({ t: ':=' });
      i += 2;
    } else if (c === '.' || c === '$') {
      const m = /^(\$[A-Za-z0-9_]*)?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\.)?/.exec(s.slice(i));
      if (!m || m[0] === '') throw new RenderError(`${where}: bad token at ${JSON.stringify(s.slice(i))}`);
      const fields = m[2] ? m[2].slice(1).split('.') : [];
      if (m[1]) out.push({ t: 'var', v: m[1], fields });
      else out.push({ t: 'field', v: fields });
      i += m[0].length;
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(s.slice(i));
      if (!m) throw new RenderError(`${where}: bad number at ${JSON.stringify(s.slice(i))}`);
      out.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i)) as RegExpExecArray;
      out.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else {
      throw new RenderError(`${where}: unexpected ${JSON.stringify(c)} in {{ ${s} }}`);
    }
  }
  return out;
}

function parsePipeline(tokens: Token[], where: string): Pipeline {
  let pos = 0;
  const pipeline = (): Pipeline => {
    const p: Pipeline = { cmds: [] };
    const t0 = tokens[pos];
    if (t0?.t === 'var' && t0.fields.length === 0 && tokens[pos + 1]?.t === ':=') {
      p.decl = t0.v;
      pos += 2;
    }
    for (;;) {
      const cmd: Command = { args: [] };
      const first = tokens[pos];
      if (first?.t === 'ident' && !['true', 'false', 'nil'].includes(first.v)) {
        cmd.fn = first.v;
        pos++;
      }
      while (pos < tokens.length && tokens[pos].t !== '|' && tokens[pos].t !== ')') cmd.args.push(operand());
      if (!cmd.fn && cmd.args.length !== 1) throw new RenderError(`${where}: a command needs a function or exactly one value`);
      p.cmds.push(cmd);
      if (tokens[pos]?.t !== '|') return p;
      pos++;
    }
  };
  const operand = (): Operand => {
    const t = tokens[pos++];
    switch (t.t) {
      case 'str':
      case 'num':
        return { k: 'lit', v: t.v };
      case 'ident':
        if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true' };
        if (t.v === 'nil') return { k: 'lit', v: undefined };
        // A function as an argument without parentheses (e.g. `default x y`) is not Go template syntax.
        throw new RenderError(`${where}: function ${t.v} used as an argument`);
      case 'field':
        return { k: 'field', path: t.v };
      case 'var':
        return { k: 'var', name: t.v, path: t.fields };
      case '(': {
        const inner = pipeline();
        if (tokens[pos++]?.t !== ')') throw new RenderError(`${where}: missing )`);
        return { k: 'pipe', pipe: inner };
      }
      default:
        throw new RenderError(`${where}: unexpected ${t.t}`);
    }
  };
  const p = pipeline();
  if (pos !== tokens.length) throw new RenderError(`${where}: trailing tokens`);
  return p;
}

/** Parses one file; `define` blocks go into `defines`, the rest is returned. */
function parse(src: string, file: string, defines: Map<string, Node[]>): Node[] {
  const pieces = lex(src, file);
  let pos = 0;
  // Returns the nodes up to a closing keyword (end / else ...), and that keyword's action text.
  const block = (): { nodes: Node[]; stop?: string } => {
    const nodes: Node[] = [];
    while (pos < pieces.length) {
      const p = pieces[pos++];
      if (p.kind === 'text') {
        nodes.push({ n: 'text', v: p.text });
        continue;
      }
      const a = p.text;
      if (a.startsWith('/*')) continue;
      const word = /^[a-z]+/.exec(a)?.[0] ?? '';
      const rest = a.slice(word.length).trim();
      if (word === 'end' || word === 'else') return { nodes, stop: a };
      if (word === 'if') {
        const branches = [{ cond: parsePipeline(tokenize(rest, file), file), body: [] as Node[] }];
        let otherwise: Node[] = [];
        for (;;) {
          const b = block();
          branches[branches.length - 1].body = b.nodes;
          if (b.stop === undefined) throw new RenderError(`${file}: if without end`);
          if (b.stop === 'end') break;
          if (b.stop.startsWith('else if ')) {
            branches.push({ cond: parsePipeline(tokenize(b.stop.slice(8), file), file), body: [] });
            continue;
          }
          if (b.stop !== 'else') throw new RenderError(`${file}: unsupported ${b.stop}`);
          const e = block();
          if (e.stop !== 'end') throw new RenderError(`${file}: else without end`);
          otherwise = e.nodes;
          break;
        }
        nodes.push({ n: 'if', branches, otherwise });
      } else if (word === 'with' || word === 'range') {
        const pipe = parsePipeline(tokenize(rest, file), file);
        // Only `range PIPELINE` (dot is each element); `range $i, $v := ...` is not supported.
        if (pipe.decl || rest.includes(',')) throw new RenderError(`${file}: variables in ${word} are not supported by this evaluator`);
        const b = block();
        let otherwise: Node[] = [];
        if (b.stop === 'else') {
          const e = block();
          if (e.stop !== 'end') throw new RenderError(`${file}: else without end`);
          otherwise = e.nodes;
        } else if (b.stop !== 'end') throw new RenderError(`${file}: with without end`);
        nodes.push({ n: word, pipe, body: b.nodes, otherwise });
      } else if (word === 'define') {
        const name = JSON.parse(rest) as string;
        const b = block();
        if (b.stop !== 'end') throw new RenderError(`${file}: define without end`);
        defines.set(name, b.nodes);
      } else if (['template', 'block', 'break', 'continue'].includes(word)) {
        throw new RenderError(`${file}: {{ ${word} }} is not supported by this evaluator`);
      } else {
        nodes.push({ n: 'action', pipe: parsePipeline(tokenize(a, file), file) });
      }
    }
    return { nodes };
  };
  const top = block();
  if (top.stop !== undefined) throw new RenderError(`${file}: unexpected {{ ${top.stop} }}`);
  return top.nodes;
}

/** Go template truthiness: false, 0, nil, and empty strings, lists and maps are false. */
export function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** How {{ x }} prints a value (Helm prints a missing value as an empty string). */
function print(v: Value): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new RenderError(`printing a ${Array.isArray(v) ? 'list' : 'map'} (use toYaml)`);
}

function field(v: Value, path: string[]): Value {
  let cur = v;
  for (const f of path) {
    if (cur === undefined || cur === null) return undefined;
    if (typeof cur !== 'object' || Array.isArray(cur)) throw new RenderError(`can't evaluate field ${f} of a ${typeof cur}`);
    cur = (cur as Record<string, Value>)[f];
  }
  return cur;
}

function indent(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return s
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

function goQuote(v: Value): string {
  return JSON.stringify(print(v));
}

function printf(format: string, ...args: Value[]): string {
  let i = 0;
  return format.replace(/%([sdv%])/g, (_m, verb: string) => (verb === '%' ? '%' : print(args[i++])));
}

export class Chart {
  private readonly defines = new Map<string, Node[]>();
  private readonly files = new Map<string, Node[]>();

  /** `templates`: file name -> text. Files starting with `_` only define named templates. */
  constructor(templates: Record<string, string>) {
    for (const [file, text] of Object.entries(templates)) {
      const nodes = parse(text, file, this.defines);
      if (!file.startsWith('_')) this.files.set(file, nodes);
    }
  }

  /** Renders one template file with root context `root` (Values, Release, Chart). */
  render(file: string, root: Record<string, Value>): string {
    const nodes = this.files.get(file);
    if (!nodes) throw new RenderError(`no template ${file}`);
    return this.exec(nodes, root, new Map([['$', root]]));
  }

  renderAll(root: Record<string, Value>, filter: (file: string) => boolean = (f) => f.endsWith('.yaml')): Record<string, string> {
    const out: Record<string, string> = {};
    for (const file of this.files.keys()) if (filter(file)) out[file] = this.render(file, root);
    return out;
  }

  private exec(nodes: Node[], dot: Value, vars: Map<string, Value>): string {
    let out = '';
    const scope = new Map(vars);
    for (const node of nodes) {
      switch (node.n) {
        case 'text':
          out += node.v;
          break;
        case 'action': {
          const v = this.pipeline(node.pipe, dot, scope);
          if (node.pipe.decl) scope.set(node.pipe.decl, v);
          else out += print(v);
          break;
        }
        case 'if': {
          const hit = node.branches.find((b) => truthy(this.pipeline(b.cond, dot, scope)));
          out += this.exec(hit ? hit.body : node.otherwise, dot, scope);
          break;
        }
        case 'with': {
          const v = this.pipeline(node.pipe, dot, scope);
          out += truthy(v) ? this.exec(node.body, v, scope) : this.exec(node.otherwise, dot, scope);
          break;
        }
        case 'range': {
          const v = this.pipeline(node.pipe, dot, scope);
          if (v !== undefined && v !== null && !Array.isArray(v)) throw new RenderError('range over a map is not supported by this evaluator');
          if (!truthy(v)) out += this.exec(node.otherwise, dot, scope);
          else for (const item of v as Value[]) out += this.exec(node.body, item, scope);
          break;
        }
      }
    }
    return out;
  }

  private pipeline(p: Pipeline, dot: Value, vars: Map<string, Value>): Value {
    let piped: { v: Value } | undefined;
    for (const cmd of p.cmds) {
      const args = cmd.args.map((a) => this.operand(a, dot, vars));
      if (piped) args.push(piped.v);
      if (!cmd.fn) {
        if (args.length !== 1) throw new RenderError('a value cannot take arguments');
        piped = { v: args[0] };
      } else piped = { v: this.call(cmd.fn, args) };
    }
    return piped?.v;
  }

  private operand(o: Operand, dot: Value, vars: Map<string, Value>): Value {
    switch (o.k) {
      case 'lit':
        return o.v;
      case 'field':
        return field(dot, o.path);
      case 'var':
        if (!vars.has(o.name)) throw new RenderError(`undefined variable ${o.name}`);
        return field(vars.get(o.name), o.path);
      case 'pipe':
        return this.pipeline(o.pipe, dot, vars);
    }
  }

  private call(fn: string, a: Value[]): Value {
    const arity = (n: number): void => {
      if (a.length !== n) throw new RenderError(`${fn}: expected ${n} arguments, got ${a.length}`);
    };
    switch (fn) {
      case 'include': {
        arity(2);
        const body = this.defines.get(String(a[0]));
        if (!body) throw new RenderError(`include: no template ${JSON.stringify(a[0])}`);
        return this.exec(body, a[1], new Map([['$', a[1]]]));
      }
      case 'toYaml':
        arity(1);
        // Helm's toYaml (sigs.k8s.io/yaml): keys sorted, trailing newline trimmed.
        return yaml.dump(a[0] ?? null, { sortKeys: true, lineWidth: -1, noRefs: true }).replace(/\n$/, '');
      case 'nindent':
        arity(2);
        return `\n${indent(Number(a[0]), print(a[1]))}`;
      case 'indent':
        arity(2);
        return indent(Number(a[0]), print(a[1]));
      case 'default':
        arity(2);
        return truthy(a[1]) ? a[1] : a[0];
      case 'required':
        arity(2);
        if (a[1] === undefined || a[1] === null || a[1] === '') throw new RenderError(`required: ${print(a[0])}`);
        return a[1];
      case 'quote':
        arity(1);
        return goQuote(a[0]);
      case 'printf':
        return printf(String(a[0]), ...a.slice(1));
      case 'list':
        return [...a];
      case 'index': {
        arity(2);
        const coll = a[0];
        if (Array.isArray(coll)) return coll[Number(a[1])];
        return field(coll, [String(a[1])]);
      }
      case 'not':
        arity(1);
        return !truthy(a[0]);
      case 'eq':
        arity(2);
        return a[0] === a[1];
      default:
        throw new RenderError(`function ${fn} is not supported by this evaluator`);
    }
  }
}

/** Every `.Values.a.b` path the templates mention (as dotted strings). */
export function valuesPaths(templates: Record<string, string>): Set<string> {
  const out = new Set<string>();
  for (const text of Object.values(templates)) {
    for (const m of text.matchAll(/\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) out.add(m[1].slice(1));
  }
  return out;
}
