// Progress bars of long jobs (a batch run, a publication's matching and notices, a receipts ZIP): every element with
// data-progress-url polls that JSON ({fraction, done, stage, counts}) every two seconds, moves its bar and its
// text, and reloads the page once the job is over, so the page shows the final state. Without JavaScript the
// page refreshes itself through a <noscript> meta refresh instead.
(function () {
  "use strict";
  function poll(box) {
    if (box.getAttribute("data-progress-polled")) { return; } // a page with two bars includes this script twice
    box.setAttribute("data-progress-polled", "1");
    var url = box.getAttribute("data-progress-url");
    var bar = box.querySelector(".progress > span");
    var text = box.querySelector("[data-progress-text]");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) { return; }
          var pct = Math.round((p.fraction || 0) * 100);
          if (bar) { bar.style.width = pct + "%"; }
          box.setAttribute("aria-valuenow", String(pct));
          if (text) { text.textContent = pct + "%"; }
          if (p.done) { window.location.reload(); } else { window.setTimeout(tick, 2000); }
        })
        .catch(function () { window.setTimeout(tick, 5000); });
    }
    window.setTimeout(tick, 1000);
  }
  var boxes = document.querySelectorAll("[data-progress-url]");
  for (var i = 0; i < boxes.length; i++) { poll(boxes[i]); }
})();
