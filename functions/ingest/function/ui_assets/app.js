// cutman web page: live updates over Server-Sent Events, approve/deny buttons.
// No framework, no build step. The server renders every piece of HTML; on a run update
// this script fetches the server-rendered fragment and swaps it in.
"use strict";
(function () {
  const body = document.body;
  const live = document.getElementById("live");
  const stream = body.dataset.stream;
  const fragmentUrl = body.dataset.fragment;
  let timer = null;

  function refresh() {
    timer = null;
    fetch(fragmentUrl, {credentials: "same-origin", headers: {"accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { document.getElementById("fragment").innerHTML = html; })
      .catch(function () { /* the next update retries */ });
  }

  if (stream && live && window.EventSource) {
    const source = new EventSource(stream, {withCredentials: true});
    source.addEventListener("open", function () {
      live.className = "live on";
      if (timer === null) { timer = setTimeout(refresh, 150); }
    });
    source.addEventListener("error", function () { live.className = "live off"; });
    source.addEventListener("run", function () {
      if (timer === null) { timer = setTimeout(refresh, 150); }
    });
  }

  document.addEventListener("click", function (ev) {
    const button = ev.target.closest("button[data-verb]");
    if (!button) { return; }
    const box = button.closest(".approval");
    const msg = box.querySelector(".msg");
    box.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    const url = "/api/v1/runs/" + encodeURIComponent(box.dataset.run) + "/steps/" +
      encodeURIComponent(box.dataset.step) + "/" + button.dataset.verb;
    fetch(url, {method: "POST", credentials: "same-origin",
                headers: {"content-type": "application/json", "x-cutman-request": "1"},
                body: JSON.stringify({by: "web"})})
      .then(function (r) { return r.json().then(function (doc) { return [r.ok, doc]; }); })
      .then(function (res) {
        msg.textContent = res[0] ? " " + res[1].decision : " " + res[1].message;
        if (!res[0]) { box.querySelectorAll("button").forEach(function (b) { b.disabled = false; }); }
        if (fragmentUrl) { refresh(); }
      })
      .catch(function (err) { msg.textContent = " failed: " + err; });
  });
})();
