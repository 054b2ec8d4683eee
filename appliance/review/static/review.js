/* appliance review: keyboard-first reviewing. Served from the package; no inline script (CSP). */
(function () {
  'use strict';
  var body = document.body;
  var statusEl = document.getElementById('status');
  var help = document.getElementById('help');
  var chain = Promise.resolve();   // writes go one after the other, in the order they were given

  function say(msg, isError) {
    statusEl.textContent = msg;
    statusEl.className = isError ? 'error' : '';
  }

  function post(url, data) {
    var run = function () {
      return fetch(url, {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: {'Content-Type': 'application/json', 'X-Review': '1'},
        body: JSON.stringify(data)
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok || !j.ok) { throw new Error(j.error || ('HTTP ' + r.status)); }
          return j;
        });
      });
    };
    var p = chain.then(run, run);
    chain = p.catch(function () {});
    return p;
  }

  function go(url) { window.location.assign(url); }

  function common(e) {
    if (e.key === '?') { help.hidden = !help.hidden; return true; }
    if (e.key === 'Escape') { help.hidden = true; return true; }
    if (!help.hidden) { return false; }
    if (e.key === 'g') { go('/'); return true; }
    if (e.key === 'r') { go('/report'); return true; }
    return false;
  }

  function itemPage() {
    var key = body.dataset.key;
    var feats = Array.prototype.slice.call(document.querySelectorAll('.feat'));
    var marks = Array.prototype.slice.call(document.querySelectorAll('mark.ev'));
    var started = Date.now();
    var idx = 0;

    function effective(li) { return li.dataset.choice || li.dataset.suggestion || ''; }
    function render(li) {
      var chosen = li.dataset.choice, sugg = li.dataset.suggestion;
      li.querySelectorAll('.choice').forEach(function (b) {
        b.classList.toggle('chosen', b.dataset.choice === chosen);
        b.classList.toggle('suggested', !chosen && b.dataset.choice === sugg);
      });
      li.classList.toggle('unset', !effective(li));
    }
    function focus(i) {
      if (!feats.length) { return; }
      idx = Math.max(0, Math.min(feats.length - 1, i));
      var li = feats[idx], fkey = li.dataset.key, first = null;
      feats.forEach(function (f) { f.classList.toggle('focus', f === li); });
      marks.forEach(function (m) {
        var on = m.dataset.features.split(' ').indexOf(fkey) >= 0;
        m.classList.toggle('focus', on);
        if (on && !first) { first = m; }
      });
      li.scrollIntoView({block: 'nearest'});
      if (first) { first.scrollIntoView({block: 'center'}); }
    }
    function choose(choice) {
      var li = feats[idx];
      if (!li) { return; }
      var before = li.dataset.choice;
      li.dataset.choice = choice || '';
      render(li);
      li.classList.remove('saved', 'failed');
      li.classList.add('saving');
      post('/api/label', {key: key, feature: li.dataset.key, choice: choice || null}).then(function () {
        li.classList.remove('saving'); li.classList.add('saved'); say('saved');
      }, function (err) {
        li.dataset.choice = before || ''; render(li);
        li.classList.remove('saving'); li.classList.add('failed');
        say('NOT saved: ' + err.message, true);
      });
      if (choice && idx < feats.length - 1) { focus(idx + 1); }
    }
    function finish() {
      var labels = {}, lacking = [];
      feats.forEach(function (li) {
        var c = effective(li);
        if (c) { labels[li.dataset.key] = c; } else { lacking.push(li); }
      });
      if (lacking.length) {
        focus(feats.indexOf(lacking[0]));
        say('Choose for ' + lacking.map(function (l) { return l.dataset.key; }).join(', ') + ' first (no suggestion: the value is missing)', true);
        return;
      }
      say('saving…');
      post('/api/done', {key: key, labels: labels, seconds: (Date.now() - started) / 1000}).then(function (j) {
        go(j.next);
      }, function (err) { say('NOT saved: ' + err.message, true); });
    }
    var choiceKeys = {p: 'present', '1': 'present', a: 'absent', '2': 'absent', n: 'not_mentioned', '3': 'not_mentioned'};
    document.addEventListener('keydown', function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey) { return; }
      if (common(e)) { e.preventDefault(); return; }
      if (!help.hidden) { return; }
      var k = e.key;
      if (k === 'j' || k === 'ArrowDown') { focus(idx + 1); }
      else if (k === 'k' || k === 'ArrowUp') { focus(idx - 1); }
      else if (choiceKeys[k]) { choose(choiceKeys[k]); }
      else if (k === 'x' || k === '0' || k === 'Backspace' || k === 'Delete') { choose(null); }
      else if (k === 'Enter') { finish(); }
      else if (k === ']') { go(body.dataset.skip); }
      else if (k === 'd') { var d = feats[idx] && feats[idx].querySelector('.definition'); if (d) { d.hidden = !d.hidden; } }
      else { return; }
      e.preventDefault();
    });
    feats.forEach(function (li, i) {
      render(li);
      li.addEventListener('click', function () { focus(i); });
      li.querySelectorAll('.choice').forEach(function (b) {
        b.addEventListener('click', function (ev) { ev.stopPropagation(); focus(i); choose(b.dataset.choice); });
      });
    });
    var firstOpen = feats.findIndex(function (li) { return !li.dataset.choice; });
    focus(firstOpen >= 0 ? firstOpen : 0);
  }

  function queuePage() {
    var rows = Array.prototype.slice.call(document.querySelectorAll('.qrow'));
    var sel = 0;
    function select(i) {
      if (!rows.length) { return; }
      sel = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (r) { r.classList.toggle('selected', r === rows[sel]); });
      rows[sel].scrollIntoView({block: 'nearest'});
    }
    document.addEventListener('keydown', function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey) { return; }
      if (common(e)) { e.preventDefault(); return; }
      if (!help.hidden) { return; }
      if (e.key === 'j' || e.key === 'ArrowDown') { select(sel + 1); }
      else if (e.key === 'k' || e.key === 'ArrowUp') { select(sel - 1); }
      else if (e.key === 'Enter') { go(rows.length ? rows[sel].dataset.href : '/'); }
      else { return; }
      e.preventDefault();
    });
    rows.forEach(function (r, i) { r.addEventListener('click', function () { go(r.dataset.href); }); });
    select(0);
  }

  function otherPage() {
    document.addEventListener('keydown', function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey) { return; }
      if (common(e)) { e.preventDefault(); return; }
      if (e.key === 'Enter' && help.hidden) { e.preventDefault(); go('/next'); }
    });
  }

  if (body.dataset.page === 'item') { itemPage(); }
  else if (body.dataset.page === 'queue') { queuePage(); }
  else { otherPage(); }
}());
