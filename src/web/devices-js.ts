/**
 * The "Your devices" page's script, served from /api/assets/devices.js (the CSP allows scripts from
 * the app's origin only, never inline). It turns each form marked `data-endpoint` into a POST with
 * the header `X-CSRF: 1`, which every state-changing API call from the page sends (src/http/csrf.ts),
 * then reloads the list. This device signs out with the page's ordinary /api/logout form, not here.
 */
export const DEVICES_JS = `'use strict';
document.addEventListener('submit', function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.endpoint) return;
  event.preventDefault();
  var button = form.querySelector('button');
  var status = document.getElementById('devices-status');
  if (button) button.disabled = true;
  fetch(form.dataset.endpoint, { method: 'POST', headers: { 'X-CSRF': '1' }, credentials: 'same-origin' })
    .then(function (response) {
      if (response.status === 204) {
        window.location.assign(window.location.pathname);
        return;
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        status.textContent = (body && body.message) || 'That did not work. Reload the page and try again.';
        if (button) button.disabled = false;
      });
    })
    .catch(function () {
      status.textContent = 'The app could not be reached. Check your connection and try again.';
      if (button) button.disabled = false;
    });
});
`;
