//! `GET /`: a minimal page that can chat over `POST /api/chat`. The full UI replaces this module.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Greenlight</title>
<style>body{font:16px system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
#log p{white-space:pre-wrap}.user{font-weight:600}.error{color:#b00}form{display:flex;gap:.5rem}
textarea{flex:1;min-height:3rem}</style></head>
<body><h1>Greenlight</h1><div id="log"></div>
<form id="f"><textarea id="q" placeholder="Ask about Greenlight" required></textarea><button>Send</button></form>
<script>
const log = document.getElementById('log'), form = document.getElementById('f'), q = document.getElementById('q');
const history = [];
function line(cls, text) { const p = document.createElement('p'); p.className = cls; p.textContent = text; log.append(p); return p; }
form.onsubmit = async (e) => {
  e.preventDefault();
  const text = q.value.trim(); if (!text) return;
  q.value = ''; line('user', text); history.push({role: 'user', content: text});
  const out = line('assistant', '');
  const res = await fetch('/api/chat', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({messages: history})});
  if (!res.ok) { const body = await res.json().catch(() => ({})); out.className = 'error';
    out.textContent = (body.error && body.error.message) || res.statusText; history.pop(); return; }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '', answer = '';
  for (;;) {
    const {value, done} = await reader.read(); if (done) break;
    buf += value; let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i); buf = buf.slice(i + 2);
      let ev = 'message', data = '';
      for (const l of block.split('\n')) {
        if (l.startsWith('event:')) ev = l.slice(6).trim(); else if (l.startsWith('data:')) data += l.slice(5).trim();
      }
      if (!data) continue; const d = JSON.parse(data);
      if (ev === 'delta') { answer += d.text; out.textContent = answer; }
      else if (ev === 'error') { out.className = 'error'; out.textContent = answer + '\n[' + d.code + '] ' + d.message; }
    }
  }
  history.push({role: 'assistant', content: answer || '(no answer)'});
};
</script></body></html>
"#;

pub async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}
