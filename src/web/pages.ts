import type { AppError } from '../errors';
import { htmlTemplate, type SafeHtml } from '../http/html-escape';

/** The shared page frame: one stylesheet, no script, works on a phone and a desktop. */
export function layout(title: string, content: SafeHtml): string {
  return htmlTemplate`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="/api/assets/app.css">
</head>
<body>
<main class="page">
${content}
</main>
</body>
</html>
`.value;
}

export function errorPage(error: AppError): string {
  const loginUrl = typeof error.details?.['loginUrl'] === 'string' ? (error.details['loginUrl'] as string) : undefined;
  return layout(
    'Something went wrong',
    htmlTemplate`<section class="card">
<h1>${error.status >= 500 ? 'We could not finish that' : 'That did not work'}</h1>
<p>${error.message}</p>
<p class="muted">Error code: <code>${error.code}</code></p>
<p><a class="button" href="${loginUrl ?? '/'}">${loginUrl ? 'Sign in again' : 'Back to the start'}</a></p>
</section>`,
  );
}
