import type { HttpResponseInit } from '@azure/functions';
import { text } from '../http/responses';
import { APP_CSS } from '../web/app-css';

/** GET /api/assets/app.css */
export async function appCss(): Promise<HttpResponseInit> {
  return text(200, APP_CSS, 'text/css; charset=utf-8');
}
