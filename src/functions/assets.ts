import type { HttpResponseInit } from '@azure/functions';
import { text } from '../http/responses';
import { APP_CSS } from '../web/app-css';
import { DEVICES_JS } from '../web/devices-js';

/** GET /api/assets/app.css */
export async function appCss(): Promise<HttpResponseInit> {
  return text(200, APP_CSS, 'text/css; charset=utf-8');
}

/** GET /api/assets/devices.js: the "Your devices" page's script (src/web/devices-js.ts). */
export async function devicesJs(): Promise<HttpResponseInit> {
  return text(200, DEVICES_JS, 'text/javascript; charset=utf-8');
}
