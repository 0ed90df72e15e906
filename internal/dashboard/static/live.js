// Live updates: on a change of this page's app (any app on the apps
// view), and whenever the event stream (re)opens, fetch the page again and
// swap its <main>, keeping what was typed in the comment. Without this script, or without EventSource, the pages
// are still complete: reload to see changes.
(function () {
  'use strict';
  if (!window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var app = document.body.getAttribute('data-app') || '';
  var busy = false;
  var again = false;
  var synced = 0;

  function keepTyped(from, to) {
    from.querySelectorAll('textarea[name]').forEach(function (old) {
      var next = to.querySelector('textarea[name="' + old.name + '"]');
      if (next && old.value !== '') {
        next.value = old.value;
      }
    });
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error('status ' + resp.status);
        }
        return resp.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, 'text/html').querySelector('main');
        var cur = document.querySelector('main');
        if (next && cur) {
          var focused = document.activeElement && document.activeElement.id;
          keepTyped(cur, next);
          cur.replaceWith(next);
          if (focused && document.getElementById(focused)) {
            document.getElementById(focused).focus();
          }
        }
        // How many times the page caught up: a browser test waits for
        // the first, after the stream opened, before it clicks.
        synced++;
        document.body.setAttribute('data-synced', String(synced));
      })
      .catch(function () { /* the next change tries again */ })
      .finally(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var events = new EventSource(document.body.getAttribute('data-events') || '/events');
  // Changes between this page's rendering and the stream's start (or
  // while it was reconnecting) sent no event to this page: look again
  // each time the stream opens.
  events.addEventListener('open', refresh);
  events.addEventListener('change', function (e) {
    if (app === '' || e.data === app) {
      refresh();
    }
  });
})();
