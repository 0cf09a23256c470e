/**
 * Signing users in through the real flow, outside jest: a cookie jar per browser and the form
 * driver of test/support/sign-in.ts (copied in spirit: the app's /api/login, the emulated Entra's
 * sign-in form, back through /api/callback, following every redirect).
 */

export interface Hop {
  readonly url: string;
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
}

export class Browser {
  /** origin -> name -> value. Paths and attributes do not matter for these flows. */
  readonly #cookies = new Map<string, Map<string, string>>();

  cookie(origin: string, name: string): string | undefined {
    return this.#cookies.get(origin)?.get(name);
  }

  async request(url: string, init: RequestInit = {}): Promise<Hop> {
    const { origin } = new URL(url);
    const headers = new Headers(init.headers);
    const jar = this.#cookies.get(origin);
    if (jar && jar.size > 0) headers.set('cookie', [...jar].map(([n, v]) => `${n}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const target = this.#cookies.get(origin) ?? new Map<string, string>();
      this.#cookies.set(origin, target);
      if (value === '' || /max-age=0\b/i.test(line)) target.delete(name);
      else target.set(name, value);
    }
    const body = await response.text();
    const location = response.headers.get('location');
    return { url, status: response.status, location: location ? new URL(location, url).href : null, body };
  }

  async follow(url: string, init: RequestInit = {}, maxHops = 15): Promise<Hop[]> {
    const hops = [await this.request(url, init)];
    let hop = hops[0]!;
    while (hop.location && hop.status >= 300 && hop.status < 400 && hops.length < maxHops) {
      hop = await this.request(hop.location);
      hops.push(hop);
    }
    return hops;
  }

  submit(url: string, fields: Record<string, string>): Promise<Hop[]> {
    return this.follow(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

/**
 * Signs `user` in at `appUrl` (its /api/login) and returns the app's final answer. `returnTo` is a
 * page that does no token work, so sign-in costs nothing that is measured later.
 */
export async function signIn(browser: Browser, appUrl: string, user: { username: string; password: string }, returnTo = '/api/health'): Promise<Hop> {
  const hops = await browser.follow(`${appUrl}/api/login?returnTo=${encodeURIComponent(returnTo)}`);
  let page = hops.at(-1)!;
  for (let step = 0; step < 5 && !page.url.startsWith(appUrl); step++) {
    const form = parseForm(page.body, page.url);
    const fields = { ...form.fields };
    if ('username' in fields || /name="username"/.test(page.body)) fields['username'] = user.username;
    if ('password' in fields || /name="password"/.test(page.body)) fields['password'] = user.password;
    const next = await browser.submit(form.action, fields);
    page = next.at(-1)!;
  }
  if (!page.url.startsWith(appUrl) || page.status !== 200) {
    throw new Error(`sign-in of ${user.username} at ${appUrl} ended at ${page.url} with ${page.status}: ${page.body.slice(0, 300)}`);
  }
  return page;
}

function parseForm(html: string, baseUrl: string): { action: string; fields: Record<string, string> } {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on the page ${baseUrl}: ${html.slice(0, 300)}`);
  const attr = (source: string, name: string): string | undefined =>
    new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(source)?.slice(2).find((v) => v !== undefined);
  const fields: Record<string, string> = {};
  for (const input of form[2]!.matchAll(/<input\b([^>]*)>/gi)) {
    const name = attr(input[1]!, 'name');
    if (name) fields[name] = decodeEntities(attr(input[1]!, 'value') ?? '');
  }
  return { action: new URL(decodeEntities(attr(form[1]!, 'action') ?? baseUrl), baseUrl).href, fields };
}

function decodeEntities(text: string): string {
  return text.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
