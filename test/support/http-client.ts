/**
 * A small browser-like HTTP client for flow tests: a cookie jar per "browser", manual redirects
 * (so tests can see and assert each hop), and helpers to follow them.
 */
export interface StoredCookie {
  readonly name: string;
  readonly value: string;
  readonly origin: string;
  readonly path: string;
  readonly attributes: string;
}

export class CookieJar {
  private readonly cookies = new Map<string, StoredCookie>();

  store(url: string, setCookies: readonly string[]): void {
    const origin = new URL(url).origin;
    for (const header of setCookies) {
      const [pair = '', ...attrs] = header.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const attributes = attrs.join(';');
      const path = /;\s*path=([^;]*)/i.exec(`;${attributes}`)?.[1]?.trim() || '/';
      const key = `${origin} ${path} ${name}`;
      const expired = /max-age=0\b/i.test(attributes) || /expires=Thu, 01 Jan 1970/i.test(attributes);
      if (expired || value === '') this.cookies.delete(key);
      else this.cookies.set(key, { name, value, origin, path, attributes });
    }
  }

  /** Like a browser: cookies of the origin whose Path is a prefix of the request path, longest path first. */
  header(url: string): string {
    const { origin, pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => c.origin === origin && (pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  get(origin: string, name: string, path = '/'): StoredCookie | undefined {
    return this.cookies.get(`${origin} ${path} ${name}`);
  }

  all(): StoredCookie[] {
    return [...this.cookies.values()];
  }

  set(origin: string, name: string, value: string, path = '/'): void {
    this.cookies.set(`${origin} ${path} ${name}`, { name, value, origin, path, attributes: '' });
  }

  delete(origin: string, name: string, path = '/'): void {
    this.cookies.delete(`${origin} ${path} ${name}`);
  }
}

export interface Hop {
  readonly url: string;
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
  readonly headers: Headers;
}

export class Browser {
  readonly jar = new CookieJar();

  async request(url: string, init: RequestInit = {}): Promise<Hop> {
    const headers = new Headers(init.headers);
    const cookie = this.jar.header(url);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.jar.store(url, response.headers.getSetCookie());
    const body = await response.text();
    const location = response.headers.get('location');
    return { url, status: response.status, location: location ? new URL(location, url).href : null, body, headers: response.headers };
  }

  /** Follows redirects from `url` (GET) until a non-redirect answer; returns every hop. */
  async follow(url: string, init: RequestInit = {}, maxHops = 15): Promise<Hop[]> {
    const hops: Hop[] = [];
    let hop = await this.request(url, init);
    hops.push(hop);
    while (hop.location && hop.status >= 300 && hop.status < 400 && hops.length < maxHops) {
      hop = await this.request(hop.location);
      hops.push(hop);
    }
    return hops;
  }

  /** Submits a form: POST url-encoded fields, then follows redirects. */
  async submit(url: string, fields: Record<string, string>, extraHeaders: Record<string, string> = {}): Promise<Hop[]> {
    return this.follow(url, formPost(fields, extraHeaders));
  }

  /** Posts a form once (url-encoded fields) and returns its answer, a redirect not followed. */
  async post(url: string, fields: Record<string, string>): Promise<Hop> {
    return this.request(url, formPost(fields));
  }
}

function formPost(fields: Record<string, string>, extraHeaders: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...extraHeaders },
    body: new URLSearchParams(fields).toString(),
  };
}

/** Reads the first <form> of a page: its action (absolute) and its inputs' names and values. */
export function parseForm(html: string, baseUrl: string): { action: string; method: string; fields: Record<string, string> } {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on the page: ${html.slice(0, 300)}`);
  const attr = (source: string, name: string): string | undefined =>
    new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(source)?.slice(2).find((v) => v !== undefined);
  const fields: Record<string, string> = {};
  for (const input of form[2]!.matchAll(/<input\b([^>]*)>/gi)) {
    const name = attr(input[1]!, 'name');
    if (name) fields[name] = decodeEntities(attr(input[1]!, 'value') ?? '');
  }
  return { action: new URL(decodeEntities(attr(form[1]!, 'action') ?? baseUrl), baseUrl).href, method: (attr(form[1]!, 'method') ?? 'get').toLowerCase(), fields };
}

function decodeEntities(text: string): string {
  return text.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
